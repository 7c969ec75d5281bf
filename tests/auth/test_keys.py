import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from oncofed.auth import keys
from oncofed.auth.keys import KeyFormatError

# RFC 8037, appendix A.1 (the key) and A.3 (its RFC 7638 thumbprint).
RFC_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def rfc_key():
    return Ed25519PrivateKey.from_private_bytes(keys.b64url_decode(RFC_D))


def test_the_jwk_and_its_kid_match_rfc_8037():
    assert keys.public_jwk(rfc_key()) == {"kty": "OKP", "crv": "Ed25519", "x": RFC_X, "kid": RFC_KID}
    assert keys.public_b64(rfc_key().public_key()) == RFC_X
    assert keys.kid(rfc_key()) == RFC_KID


def test_a_saved_private_key_is_readable_by_its_owner_only_and_loads_back(tmp_path):
    key = keys.generate()
    keys.save_private(key, tmp_path / "node.key")
    assert stat.S_IMODE(os.stat(tmp_path / "node.key").st_mode) == 0o600
    assert keys.public_b64(keys.load_private(tmp_path / "node.key")) == keys.public_b64(key)


def test_saving_never_overwrites_a_key(tmp_path):
    keys.save_private(keys.generate(), tmp_path / "node.key")
    before = (tmp_path / "node.key").read_bytes()
    with pytest.raises(FileExistsError):
        keys.save_private(keys.generate(), tmp_path / "node.key")
    assert (tmp_path / "node.key").read_bytes() == before


def test_loading_something_else_than_an_ed25519_key_says_so(tmp_path):
    (tmp_path / "junk.key").write_text("not a key")
    with pytest.raises(KeyFormatError, match="unencrypted PEM private key"):
        keys.load_private(tmp_path / "junk.key")
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "ec.key").write_bytes(other)
    with pytest.raises(KeyFormatError, match="not an Ed25519 private key"):
        keys.load_private(tmp_path / "ec.key")


@pytest.mark.parametrize("form", [RFC_X, {"kty": "OKP", "crv": "Ed25519", "x": RFC_X},
                                  {"kty": "OKP", "crv": "Ed25519", "x": RFC_X, "kid": "any", "use": "sig"}])
def test_a_public_key_loads_from_each_published_form(form):
    key = keys.public_key(form)
    assert keys.public_b64(key) == RFC_X
    assert keys.public_key(key) is key


@pytest.mark.parametrize(("form", "message"), [
    (RFC_X[:-3], "32 bytes"),
    (RFC_X + "==", "not base64url"),
    (RFC_X.replace("_", "/"), "not base64url"),
    ("11qY AYKx", "not base64url"),
    ({"kty": "EC", "crv": "P-256", "x": RFC_X}, "kty 'OKP'"),
    ({"kty": "OKP", "crv": "Ed25519"}, "base64url text or a JWK"),
    (42, "base64url text or a JWK"),
])
def test_a_malformed_public_key_is_refused(form, message):
    with pytest.raises(KeyFormatError, match=message):
        keys.public_key(form)


def test_base64url_has_one_spelling_per_value():
    assert keys.b64url_decode(keys.b64url_encode(b"\x00\xff")) == b"\x00\xff"
    assert keys.b64url_decode("AA") == b"\x00"
    with pytest.raises(KeyFormatError):
        keys.b64url_decode("AB")  # the same byte with spare bits set
