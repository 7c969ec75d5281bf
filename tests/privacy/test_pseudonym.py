"""Pseudonyms: keyed, namespaced, and the same in every oncofed release, since a store's
records of an individual are found again by them at the next ingest."""

import hashlib

import pytest

from oncofed.privacy.pseudonym import Pseudonymiser

SECRET = bytes(range(32))


def test_a_pseudonym_is_the_keyed_blake2b_of_namespace_and_identifier():
    expected = hashlib.blake2b(b"ds\x1fP-17", key=SECRET, digest_size=12).hexdigest()
    assert Pseudonymiser(SECRET).one("ds", "P-17") == expected == "bbba8ebc161ecd27f04f16f4"


def test_namespaces_and_secrets_separate_pseudonyms():
    p = Pseudonymiser(SECRET)
    assert p.many("ds", ["1", "2", "1"]) == [p.one("ds", "1"), p.one("ds", "2"), p.one("ds", "1")]
    assert p.one("ds", "1") != p.one("other", "1")
    assert Pseudonymiser(bytes(32)).one("ds", "1") != p.one("ds", "1")


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        Pseudonymiser(b"short")
