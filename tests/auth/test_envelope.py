import json
import threading

import pytest

from oncofed.auth import envelope, keys
from oncofed.auth.envelope import ReplayCache

HUB, NODE = keys.generate(), keys.generate()
PUBLIC = {"hub": keys.public_b64(HUB), "node-a": keys.public_jwk(NODE)}
NOW = 1_750_000_000
BODY = {"kind": "analysis", "params": {"covariates": ["age", "stage"], "alpha": 0.05}, "note": "Zürich ✓"}


def open_at(sealed, *, now=NOW, recipient="node-a", cache=None, **kwargs):
    return envelope.open_(sealed, recipient, PUBLIC.get, ReplayCache() if cache is None else cache, now=now, **kwargs)


def test_a_sealed_body_opens_unchanged():
    sealed = envelope.seal(BODY, "hub", "node-a", HUB, now=NOW)
    assert set(sealed) == {"sender", "recipient", "nonce", "issued_at", "body", "signature"}
    assert open_at(sealed) == BODY


def test_an_envelope_survives_json_transport():
    sealed = json.loads(json.dumps(envelope.seal(BODY, "hub", "node-a", HUB, now=NOW)))
    assert open_at(sealed) == BODY


def test_every_envelope_is_unique():
    a, b = (envelope.seal(BODY, "hub", "node-a", HUB, now=NOW) for _ in range(2))
    assert a["nonce"] != b["nonce"] and a["signature"] != b["signature"]


def test_the_canonical_form_is_sorted_compact_utf8():
    assert envelope.canonical({"b": 1, "a": [1.5, "é", None]}) == '{"a":[1.5,"é",null],"b":1}'.encode()
    with pytest.raises(ValueError):
        envelope.canonical({"x": float("nan")})


@pytest.mark.parametrize(("member", "value"), [
    ("body", {**BODY, "kind": "ping"}),
    ("sender", "node-a"),
    ("recipient", "node-b"),
    ("issued_at", NOW + 1),
    ("nonce", keys.b64url_encode(b"\x00" * 16)),
])
def test_a_tampered_envelope_is_refused(member, value):
    sealed = {**envelope.seal(BODY, "hub", "node-a", HUB, now=NOW), member: value}
    with pytest.raises(envelope.BadSignature):
        open_at(sealed, recipient=sealed["recipient"])


def test_a_signature_by_another_key_is_refused():
    forged = envelope.seal(BODY, "hub", "node-a", NODE, now=NOW)  # node-a pretending to be the hub
    with pytest.raises(envelope.BadSignature, match="'hub'"):
        open_at(forged)


def test_an_unknown_sender_is_refused():
    with pytest.raises(envelope.UnknownSender, match="'stranger'"):
        open_at(envelope.seal(BODY, "stranger", "node-a", HUB, now=NOW))


def test_an_envelope_for_someone_else_is_refused():
    sealed = envelope.seal(BODY, "hub", "node-b", HUB, now=NOW)
    with pytest.raises(envelope.WrongRecipient, match="'node-b', not 'node-a'"):
        open_at(sealed)


def test_a_replayed_envelope_is_refused():
    cache = ReplayCache()
    sealed = envelope.seal(BODY, "hub", "node-a", HUB, now=NOW)
    open_at(sealed, cache=cache)
    with pytest.raises(envelope.Replay):
        open_at(sealed, cache=cache, now=NOW + 30)


@pytest.mark.parametrize("age", [61, 3600])
def test_an_old_envelope_is_refused(age):
    with pytest.raises(envelope.Expired):
        open_at(envelope.seal(BODY, "hub", "node-a", HUB, now=NOW - age))


@pytest.mark.parametrize("ahead", [61, 3600])
def test_an_envelope_from_the_future_is_refused(ahead):
    with pytest.raises(envelope.ClockSkew, match="check both clocks"):
        open_at(envelope.seal(BODY, "hub", "node-a", HUB, now=NOW + ahead))


def test_clocks_may_differ_within_the_window():
    for skew in (-60, -1, 0, 1, 60):
        assert open_at(envelope.seal(BODY, "hub", "node-a", HUB, now=NOW + skew)) == BODY


def test_an_answer_must_refer_to_its_request():
    request = envelope.seal(BODY, "hub", "node-a", HUB, now=NOW)
    answer = envelope.seal({"status": "ok"}, "node-a", "hub", NODE, reply_to=request["nonce"], now=NOW)
    assert open_at(answer, recipient="hub", reply_to=request["nonce"]) == {"status": "ok"}
    other = envelope.seal({"status": "ok"}, "node-a", "hub", NODE, reply_to="another", now=NOW)
    with pytest.raises(envelope.WrongReply):
        open_at(other, recipient="hub", reply_to=request["nonce"])


@pytest.mark.parametrize("broken", [
    "not an object",
    {"sender": "hub"},
    "issued_at-as-text",
    "extra-member",
    "bad-signature-text",
    "nan-in-body",
])
def test_a_malformed_envelope_is_refused(broken):
    sealed = envelope.seal(BODY, "hub", "node-a", HUB, now=NOW)
    if broken == "issued_at-as-text":
        broken = {**sealed, "issued_at": str(NOW)}
    elif broken == "extra-member":
        broken = {**sealed, "admin": True}
    elif broken == "bad-signature-text":
        broken = {**sealed, "signature": "***"}
    elif broken == "nan-in-body":
        broken = json.loads(json.dumps(sealed).replace('"alpha": 0.05', '"alpha": NaN'))
    with pytest.raises(envelope.EnvelopeError):
        open_at(broken)


def test_the_replay_cache_forgets_nonces_once_they_are_stale():
    cache = ReplayCache()
    cache.claim("hub", "n1", until=NOW + 60, now=NOW)
    cache.claim("hub", "n2", until=NOW + 90, now=NOW)
    cache.claim("node-a", "n1", until=NOW + 60, now=NOW)  # nonces are per sender
    assert cache.held == 3
    cache.claim("hub", "n3", until=NOW + 121, now=NOW + 61)
    assert cache.held == 2


def test_a_full_replay_cache_refuses_rather_than_forgets():
    cache = ReplayCache(capacity=2)
    cache.claim("hub", "n1", until=NOW + 60, now=NOW)
    cache.claim("hub", "n2", until=NOW + 60, now=NOW)
    with pytest.raises(envelope.ReplayCacheFull):
        cache.claim("hub", "n3", until=NOW + 60, now=NOW)
    with pytest.raises(envelope.Replay):
        cache.claim("hub", "n1", until=NOW + 60, now=NOW + 1)
    cache.claim("hub", "n3", until=NOW + 120, now=NOW + 61)


def test_the_replay_cache_admits_a_nonce_once_under_concurrency():
    cache, accepted, barrier = ReplayCache(), [], threading.Barrier(16)

    def claim():
        barrier.wait()
        try:
            cache.claim("hub", "same", until=NOW + 60, now=NOW)
            accepted.append(1)
        except envelope.Replay:
            pass

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 1


def test_an_envelope_given_a_longer_life_stays_good_until_it_ends():
    sealed = envelope.seal(BODY, "hub", "node-a", HUB, life_s=120, now=NOW)
    assert sealed["expires_at"] == NOW + 120
    cache = ReplayCache()
    assert open_at(sealed, now=NOW + 119, cache=cache) == BODY
    with pytest.raises(envelope.Replay):  # its nonce is held as long as it is good
        open_at(sealed, now=NOW + 120, cache=cache)
    with pytest.raises(envelope.Expired, match="more than the 120 s its sender allowed"):
        open_at(sealed, now=NOW + 121)
    # within the skew window a life adds nothing: the envelope stays as it was
    assert "expires_at" not in envelope.seal(BODY, "hub", "node-a", HUB, life_s=30, now=NOW)
    assert envelope.seal(BODY, "hub", "node-a", HUB, life_s=10**6, now=NOW)["expires_at"] == NOW + envelope.MAX_LIFE_S


@pytest.mark.parametrize("expires_at", [NOW - 1, NOW + envelope.MAX_LIFE_S + 1, True])
def test_a_life_before_its_issue_or_beyond_the_limit_is_refused(expires_at):
    sealed = envelope.seal(BODY, "hub", "node-a", HUB, now=NOW)
    unsigned = {k: v for k, v in sealed.items() if k != "signature"} | {"expires_at": expires_at}
    signed = {**unsigned, "signature": keys.b64url_encode(HUB.sign(envelope.canonical(unsigned)))}
    with pytest.raises(envelope.MalformedEnvelope, match="expires_at"):
        open_at(signed)
