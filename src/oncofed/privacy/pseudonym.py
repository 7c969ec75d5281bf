"""Keyed pseudonyms for source identifiers, so raw identifiers never reach the store.

BLAKE2b in keyed mode is a MAC (a keyed pseudo-random function), like HMAC but three times
faster here, which matters at a million identifiers. Without the node secret a pseudonym can
neither be reversed nor recomputed from a guessed identifier.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

SECRET_BYTES = 32
_DIGEST_BYTES = 12  # 96 bits: collisions negligible far beyond any cohort size


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def _digest(start, identifier: str) -> str:
    """The pseudonym from a copy of the hash already keyed and fed the namespace: copying
    saves compressing the key block again for each of a million identifiers."""
    h = start()
    h.update(identifier.encode())
    return h.hexdigest()


class Pseudonymiser:
    def __init__(self, secret: bytes):
        if len(secret) != SECRET_BYTES:
            raise ValueError(f"node secret must be {SECRET_BYTES} bytes")
        self._secret = secret

    def many(self, namespace: str, identifiers: Iterable[str]) -> list[str]:
        """Pseudonyms of identifiers within a namespace (by default the dataset id).

        The same source identifier in two namespaces gets two unrelated pseudonyms, so local
        numbering ("patient 1") in two datasets never links them by accident.
        """
        keyed = hashlib.blake2b(namespace.encode() + b"\x1f", key=self._secret, digest_size=_DIGEST_BYTES)
        return [_digest(keyed.copy, i) for i in identifiers]

    def one(self, namespace: str, identifier: str) -> str:
        return self.many(namespace, [identifier])[0]
