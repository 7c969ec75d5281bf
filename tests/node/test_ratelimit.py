"""Rate limits per caller: a token bucket each, over HTTP a 429 Beacon error with Retry-After;
other callers are not slowed by one who floods, at the node and through the hub."""

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from beacon.nodes import build
from conftest import DATA
from oncofed.auth import tokens
from oncofed.client.federation import Federation, FederationError
from oncofed.hub.store import HubStore
from oncofed.node.app import create_app
from oncofed.node.ratelimit import Buckets, RateLimit, RateLimited
from oncofed.testing import LocalFederation


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


def test_through_the_hub_each_researcher_and_each_anonymous_caller_has_its_own_bucket(tmp_path):
    """The hub passes anonymous callers' addresses in its signed envelope, so one flooding
    caller does not shut out the others behind the same hub. (127.0.0.2 and .3 are loopback
    addresses too, so the calls come from different places.)"""
    with LocalFederation(tmp_path) as lf:
        lf.add_node("a", rate={"per_minute": 1, "burst": 2}).add_dataset(
            "lung", DATA / "ncctg-lung/lung.csv", mapping=DATA / "ncctg-lung/mapping.yaml")
        fed = lf.start()

        def beacon(address: str) -> httpx.Response:
            with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30) as client:
                return client.get(lf.hub_url + "/api/individuals")

        assert [beacon("127.0.0.2").status_code for _ in range(3)] == [200, 200, 429]
        assert "too many requests" in beacon("127.0.0.2").json()["error"]["errorMessage"]
        assert beacon("127.0.0.3").status_code == 200
        assert [fed.count(datasets=["lung"]).count for _ in range(2)] == [228, 228]
        with pytest.raises(FederationError, match="a: refused \\(too many requests"):
            fed.count(datasets=["lung"])
        store = HubStore(lf.hub.config.db)
        try:
            user = store.add_user("another researcher")
        finally:
            store.dispose()
        token = tokens.issue(lf.hub.private_key, lf.hub.config.id, user, timedelta(hours=1))
        assert Federation(lf.hub_url, token).count(datasets=["lung"]).count == 228
