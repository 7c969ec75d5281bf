import json
import time
from datetime import timedelta

import jwt
import pytest

from oncofed.auth import keys, tokens
from oncofed.auth.tokens import TokenError

HUB = keys.generate()
TRUSTED = [keys.public_b64(HUB)]
ISSUER = "https://hub.example.org"


def claims(**changes):
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "user-7", "aud": "oncofed", "iat": now, "exp": now + 600, "jti": "t-1",
            "level": "registered"}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def signed(payload, key=HUB, **header):
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": keys.kid(HUB), **header})


def refused(token, message, trusted=TRUSTED, issuer=ISSUER, **kwargs):
    with pytest.raises(TokenError, match=message) as e:
        tokens.verify(token, trusted, issuer, **kwargs)
    for part in str(token).split("."):
        assert len(part) < 8 or part not in str(e.value), "the error must not echo the token"
    return e.value


def test_an_issued_token_verifies_with_its_claims():
    token = tokens.issue(HUB, ISSUER, "user-7", timedelta(hours=1))
    got = tokens.verify(token, TRUSTED, ISSUER)
    assert (got.issuer, got.subject, got.audience, got.level) == (ISSUER, "user-7", "oncofed", "registered")
    assert got.expires_at - got.issued_at == 3600
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": keys.kid(HUB), "typ": "JWT"}


def test_every_token_has_its_own_id():
    a, b = (tokens.verify(tokens.issue(HUB, ISSUER, "u", 60), TRUSTED, ISSUER) for _ in range(2))
    assert a.token_id != b.token_id


@pytest.mark.parametrize("trusted", [
    [keys.public_b64(HUB)], [keys.public_jwk(HUB)], [HUB.public_key()],
    {"keys": [keys.public_jwk(keys.generate()), keys.public_jwk(HUB)]},
])
def test_trusted_keys_may_be_given_in_any_published_form(trusted):
    assert tokens.verify(tokens.issue(HUB, ISSUER, "u", 60), trusted, ISSUER).subject == "u"


def test_an_expired_token_is_refused():
    token = tokens.issue(HUB, ISSUER, "u", 60, now=time.time() - 3600)
    refused(token, "has expired")


def test_a_token_within_the_clock_leeway_still_verifies():
    token = tokens.issue(HUB, ISSUER, "u", 60, now=time.time() - 90)  # expired 30 s ago
    tokens.verify(token, TRUSTED, ISSUER)
    refused(token, "has expired", leeway_s=0)


def test_a_token_from_the_future_is_refused():
    refused(signed(claims(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)), "not valid yet")


def test_a_tampered_token_is_refused():
    header, payload, signature = tokens.issue(HUB, ISSUER, "user-7", 600).split(".")
    data = json.loads(keys.b64url_decode(payload))
    forged = keys.b64url_encode(json.dumps({**data, "sub": "admin"}).encode())
    refused(f"{header}.{forged}.{signature}", "signature is not valid")


def test_a_token_signed_by_another_key_under_the_trusted_kid_is_refused():
    refused(signed(claims(), key=keys.generate()), "signature is not valid")


def test_a_token_signed_by_an_untrusted_key_is_refused():
    refused(tokens.issue(keys.generate(), ISSUER, "u", 600), "does not trust")


def test_a_token_without_a_kid_is_refused():
    refused(jwt.encode(claims(), HUB, algorithm="EdDSA"), "does not trust")


@pytest.mark.parametrize("kid", [["a"], {"a": 1}, 7])
def test_a_token_with_a_kid_that_is_not_text_is_refused(kid):
    header = keys.b64url_encode(json.dumps({"alg": "EdDSA", "kid": kid}).encode())
    payload = keys.b64url_encode(json.dumps(claims()).encode())
    signature = keys.b64url_encode(HUB.sign(f"{header}.{payload}".encode()))
    refused(f"{header}.{payload}.{signature}", "malformed")


def test_a_token_of_another_issuer_is_refused():
    refused(tokens.issue(HUB, "https://elsewhere.example", "u", 600), f"not issued by '{ISSUER}'")


def test_a_token_for_another_audience_is_refused():
    refused(tokens.issue(HUB, ISSUER, "u", 600, audience="other-app"), "not meant for 'oncofed'")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30", 17])
def test_a_malformed_token_is_refused(token):
    refused(token, "malformed")


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_other_algorithms_are_refused(alg):
    key = None if alg == "none" else keys.public_b64(HUB)  # the classic key-confusion attack
    refused(jwt.encode(claims(), key, algorithm=alg, headers={"kid": keys.kid(HUB)}), "only algorithm accepted")


@pytest.mark.parametrize("claim", ["sub", "exp", "jti", "aud", "iat"])
def test_a_token_without_a_required_claim_is_refused(claim):
    refused(signed(claims(**{claim: None})), f"lacks the '{claim}' claim")


def test_a_token_without_a_known_level_is_refused():
    refused(signed(claims(level="controlled")), "no known access level")
    refused(signed(claims(level=None)), "no known access level")


def test_only_known_levels_are_issued():
    with pytest.raises(ValueError, match="unknown access level"):
        tokens.issue(HUB, ISSUER, "u", 60, level="admin")
