"""Researcher bearer tokens: JWTs the hub issues and signs with its Ed25519 key (EdDSA).

Nodes verify them themselves with the hub's public key from their own configuration, so a
node never takes the hub's word for who is asking. A token names its key by ``kid`` (the key's
RFC 7638 thumbprint) so that a hub can rotate keys while old tokens run out.

Errors never include the token: it is a credential, and error messages end up in logs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import jwt

from oncofed.auth import keys
from oncofed.errors import OncofedError

AUDIENCE = "oncofed"
LEVELS = ("registered",)
LEEWAY_S = 60  # clock difference tolerated between the hub and a node
_REQUIRED = ["iss", "sub", "aud", "iat", "exp", "jti"]


class TokenError(OncofedError):
    """A token that proves nothing; the message says why, without the token."""


@dataclass(frozen=True)
class Claims:
    issuer: str
    subject: str
    audience: str
    issued_at: int
    expires_at: int
    token_id: str
    level: str


def issue(private_key: keys.PrivateKey, issuer: str, subject: str, ttl: timedelta | float, *,
          level: str = "registered", audience: str = AUDIENCE, now: float | None = None) -> str:
    """A signed token for ``subject``, valid for ``ttl`` (a timedelta or seconds)."""
    if level not in LEVELS:
        raise ValueError(f"unknown access level {level!r}; expected one of {', '.join(LEVELS)}")
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    iat = int(time.time() if now is None else now)
    claims = {"iss": issuer, "sub": subject, "aud": audience, "iat": iat, "exp": iat + int(seconds),
              "jti": str(uuid.uuid4()), "level": level}
    return jwt.encode(claims, private_key, algorithm="EdDSA", headers={"kid": keys.kid(private_key)})


def verify(token: str, public_keys: Mapping[str, object] | Iterable[object], issuer: str,
           audience: str = AUDIENCE, *, leeway_s: float = LEEWAY_S) -> Claims:
    """The claims of a token signed by one of ``public_keys`` for this issuer and audience,
    or TokenError saying what is wrong.

    ``public_keys``: a JWKS (``{"keys": [...]}``) or keys in any form ``keys.public_key``
    accepts; the token's ``kid`` picks one.
    """
    trusted = _by_kid(public_keys)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenError("the token is malformed (not a signed JWT)") from None
    if header.get("alg") != "EdDSA":
        raise TokenError("the token is not signed with EdDSA, the only algorithm accepted")
    kid = header.get("kid")
    key = trusted.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenError("the token is signed by a key this party does not trust")
    try:
        payload = jwt.decode(token, key, algorithms=["EdDSA"], audience=audience, issuer=issuer,
                             leeway=leeway_s, options={"require": _REQUIRED})
    except jwt.ExpiredSignatureError:
        raise TokenError("the token has expired; sign in again") from None
    except jwt.InvalidSignatureError:
        raise TokenError("the token's signature is not valid") from None
    except jwt.InvalidIssuerError:
        raise TokenError(f"the token was not issued by {issuer!r}") from None
    except jwt.InvalidAudienceError:
        raise TokenError(f"the token is not meant for {audience!r}") from None
    except jwt.MissingRequiredClaimError as e:
        raise TokenError(f"the token lacks the {e.claim!r} claim") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("the token is not valid yet: check the clocks of issuer and verifier") from None
    except jwt.InvalidTokenError:
        raise TokenError("the token is malformed") from None
    level = payload.get("level")
    if level not in LEVELS:
        raise TokenError("the token carries no known access level")
    if not isinstance(payload["sub"], str) or not isinstance(payload["jti"], str):
        raise TokenError("the token is malformed (sub and jti must be strings)")
    return Claims(issuer=payload["iss"], subject=payload["sub"], audience=audience, issued_at=payload["iat"],
                  expires_at=payload["exp"], token_id=payload["jti"], level=level)


def _by_kid(public_keys: Mapping[str, object] | Iterable[object]) -> dict[str, keys.PublicKey]:
    """Trusted keys by id: a JWK's own ``kid`` where it has one, else the key's thumbprint."""
    if isinstance(public_keys, Mapping):
        if not isinstance(public_keys.get("keys"), list):
            raise TypeError("public_keys must be a JWKS ({'keys': [...]}) or an iterable of keys")
        public_keys = public_keys["keys"]
    trusted = {}
    for k in public_keys:
        key = keys.public_key(k)  # type: ignore[arg-type]
        trusted[k.get("kid") if isinstance(k, Mapping) and "kid" in k else keys.kid(key)] = key
    return trusted
