"""Ed25519 keys: how hubs and nodes sign, and the forms in which they publish public keys.

A public key travels either as the base64url of its 32 raw bytes (node.yaml, the hub's
registry) or as a JWK (RFC 8037: kty OKP, crv Ed25519) whose ``kid`` is its RFC 7638
thumbprint, so the same key always has the same id wherever it is published.

GA4GH visas must be signed with RS256 or ES256, not EdDSA: the hub's visa key is an ECDSA
P-256 key (ES256), and keys of other parties' visas and tokens arrive as RSA or EC JWKs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from oncofed.errors import OncofedError

PrivateKey = Ed25519PrivateKey
PublicKey = Ed25519PublicKey
VisaKey = ec.EllipticCurvePrivateKey
# GA4GH AAI: every Passport, Visa and access token is signed with one of these.
GA4GH_ALGORITHMS = ("RS256", "ES256")
MIN_RSA_BITS = 2048


class KeyFormatError(OncofedError):
    """A key that is not an Ed25519 key in one of the accepted forms."""


def generate() -> PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private(key: PrivateKey | VisaKey, path: Path) -> None:
    """Write the key as unencrypted PKCS#8 PEM, readable by the owner only; never overwrites
    (FileExistsError), so an existing identity cannot be lost by accident."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load_private(path: Path) -> PrivateKey:
    key = _load_pem(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def generate_visa_key() -> VisaKey:
    return ec.generate_private_key(ec.SECP256R1())


def load_visa_key(path: Path) -> VisaKey:
    key = _load_pem(path)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFormatError(f"{path} holds a {type(key).__name__}, not an ECDSA P-256 (ES256) private key")
    return key


def visa_jwk(key: VisaKey) -> dict[str, str]:
    """The public half of an ES256 key as a JWK (RFC 7518 §6.2), with its thumbprint as kid."""
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64url_encode(numbers.x.to_bytes(32, "big")),
           "y": b64url_encode(numbers.y.to_bytes(32, "big"))}
    return {**jwk, "kid": _thumbprint(jwk), "alg": "ES256", "use": "sig"}


def ga4gh_verifier(jwk: Mapping[str, object], alg: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The public key a JWK holds, if it can verify ``alg`` (RS256 with an RSA key of at least
    2048 bits, ES256 with a P-256 key); KeyFormatError otherwise, so that no key is ever used
    with an algorithm it was not made for."""
    if alg not in GA4GH_ALGORITHMS:
        raise KeyFormatError(f"algorithm {alg!r} is not accepted; expected one of {', '.join(GA4GH_ALGORITHMS)}")
    if jwk.get("alg") not in (None, alg):
        raise KeyFormatError(f"the key is published for {jwk.get('alg')!r}, not {alg!r}")
    if jwk.get("use") not in (None, "sig"):
        raise KeyFormatError("the key is not published for signatures")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as e:
        raise KeyFormatError(f"not a usable {alg} JWK ({e})") from None
    if alg == "RS256" and not (isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS):
        raise KeyFormatError(f"RS256 needs a public RSA key of at least {MIN_RSA_BITS} bits")
    if alg == "ES256" and not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise KeyFormatError("ES256 needs a public P-256 key")
    return key


def public_b64(key: PrivateKey | PublicKey) -> str:
    """The public key as base64url (no padding) of its 32 raw bytes."""
    return b64url_encode(_public(key).public_bytes_raw())


def public_jwk(key: PrivateKey | PublicKey) -> dict[str, str]:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": public_b64(key)}
    return {**jwk, "kid": _thumbprint(jwk)}


def kid(key: PrivateKey | PublicKey) -> str:
    """The key's RFC 7638 thumbprint: its id in JWKS and JWT headers."""
    return public_jwk(key)["kid"]


def public_key(value: str | Mapping[str, object] | PublicKey) -> PublicKey:
    """A public key from base64url raw bytes, a JWK, or a key already loaded."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, Mapping):
        if value.get("kty") != "OKP" or value.get("crv") != "Ed25519":
            raise KeyFormatError("a JWK for this key needs kty 'OKP' and crv 'Ed25519'")
        value = value.get("x")
    if not isinstance(value, str):
        raise KeyFormatError("expected an Ed25519 public key as base64url text or a JWK")
    raw = b64url_decode(value)
    if len(raw) != 32:
        raise KeyFormatError(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: only the one spelling ``b64url_encode`` gives (the
    standard decoder skips stray characters and ignores spare bits)."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise KeyFormatError("not base64url text") from None
    if b64url_encode(data) != text:
        raise KeyFormatError("not base64url text")
    return data


def _load_pem(path: Path):
    try:
        return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyFormatError(f"{path} does not hold an unencrypted PEM private key ({e})") from None


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def _thumbprint(jwk: Mapping[str, str]) -> str:
    # RFC 7638 §3: the required members only, sorted, no whitespace; RFC 8037 §2 names them for
    # OKP, RFC 7638 §3.2 for EC.
    required = {k: jwk[k] for k in (("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("crv", "kty", "x"))}
    return b64url_encode(hashlib.sha256(json.dumps(required, sort_keys=True, separators=(",", ":")).encode()).digest())
