"""Ed25519 keys: how hubs and nodes sign, and the forms in which they publish public keys.

A public key travels either as the base64url of its 32 raw bytes (node.yaml, the hub's
registry) or as a JWK (RFC 8037: kty OKP, crv Ed25519) whose ``kid`` is its RFC 7638
thumbprint, so the same key always has the same id wherever it is published.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from oncofed.errors import OncofedError

PrivateKey = Ed25519PrivateKey
PublicKey = Ed25519PublicKey


class KeyFormatError(OncofedError):
    """A key that is not an Ed25519 key in one of the accepted forms."""


def generate() -> PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private(key: PrivateKey, path: Path) -> None:
    """Write the key as unencrypted PKCS#8 PEM, readable by the owner only; never overwrites
    (FileExistsError), so an existing identity cannot be lost by accident."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load_private(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyFormatError(f"{path} does not hold an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
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


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def _thumbprint(jwk: Mapping[str, str]) -> str:
    # RFC 7638 §3: the required members only, sorted, no whitespace; RFC 8037 §2 names them for OKP.
    required = {k: jwk[k] for k in ("crv", "kty", "x")}
    return b64url_encode(hashlib.sha256(json.dumps(required, sort_keys=True, separators=(",", ":")).encode()).digest())
