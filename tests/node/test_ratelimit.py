"""Rate limits per caller: a token bucket each, over HTTP a 429 Beacon error with Retry-After;
other callers are not slowed by one who floods."""

import pytest
from fastapi.testclient import TestClient

from beacon.nodes import build
from oncofed.node.app import create_app
from oncofed.node.ratelimit import Buckets, RateLimit, RateLimited


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_caller_gets_its_burst_then_the_rate():
    clock = Clock()
    buckets = Buckets(RateLimit(per_minute=60, burst=3), clock)
    for _ in range(3):
        buckets.take("alice")
    with pytest.raises(RateLimited) as refused:
        buckets.take("alice")
    assert refused.value.retry_after_s == pytest.approx(1.0)
    clock.now = 1.0
    buckets.take("alice")  # one more per second
    with pytest.raises(RateLimited):
        buckets.take("alice")


def test_one_caller_flooding_does_not_slow_another():
    buckets = Buckets(RateLimit(per_minute=60, burst=2), Clock())
    buckets.take("mallory"), buckets.take("mallory")
    with pytest.raises(RateLimited):
        buckets.take("mallory")
    buckets.take("alice")


def test_a_quiet_caller_never_holds_more_than_the_burst():
    clock = Clock()
    buckets = Buckets(RateLimit(per_minute=60, burst=2), clock)
    buckets.take("alice")
    clock.now = 3600.0
    buckets.take("alice"), buckets.take("alice")
    with pytest.raises(RateLimited):
        buckets.take("alice")


def test_over_http_a_flood_gets_429_with_retry_after_and_others_still_get_answers(tmp_path):
    node = build(tmp_path)
    home = node.home.save(node.home.config.model_copy(update={"rate": RateLimit(per_minute=6, burst=3)}))
    with TestClient(create_app(home)) as client:
        alice = {"Authorization": f"Bearer {node.token('alice')}"}
        codes = [client.get("/api/individuals", headers=alice).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get("/api/individuals", headers=alice)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "too many requests" in refused.json()["error"]["errorMessage"]
        bob = {"Authorization": f"Bearer {node.token('bob')}"}
        assert client.get("/api/individuals", headers=bob).status_code == 200
