"""Signed envelopes: every request and answer between hub and node, over any transport.

The signature makes the transport untrusted: a relay, a proxy or a queue can delay or drop
an envelope but cannot alter, redirect or replay it unnoticed. An envelope is a JSON object:

    sender, recipient   ids of the signer and of the one party that may open it
    nonce               16 random bytes, base64url: with issued_at, makes every envelope unique
    issued_at           integer Unix seconds; accepted within ``max_skew_s`` either side of now
    expires_at          (optional) integer Unix seconds: the sender stands by the envelope until
                        then, at most ``MAX_LIFE_S`` after issued_at. A request queued for a relay
                        node may wait longer than the skew window before the node polls; the hub
                        says how long it still waits for the answer, and the node accepts the
                        request until then (or the skew window, whichever ends later)
    reply_to            (answers only, optional) the nonce of the request this answers
    body                a JSON object
    signature           Ed25519 over ``canonical`` of all the other members, base64url

Canonical form (``canonical``): JSON with object keys sorted by code point, no whitespace,
non-ASCII characters written as UTF-8 rather than escaped, NaN and infinities refused, numbers
as Python writes them (floats in their shortest round-trip form). For the objects we sign
(strings, integers, ids) this equals RFC 8785 (JCS); only floats with exponents and keys
outside the Basic Multilingual Plane could differ, which matters only to a non-Python signer.

Nonces live in memory in the receiving process (``ReplayCache``), each only as long as its
envelope could pass the time check; after a restart, an envelope seen in the last
``max_skew_s`` seconds (or before its ``expires_at``) could be replayed once.
"""

from __future__ import annotations

import heapq
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel

from oncofed.auth import keys
from oncofed.errors import OncofedError

MAX_SKEW_S = 60
MAX_LIFE_S = 900  # the longest a hub waits for a node (600 s) and then some
_REQUIRED = {"sender": str, "recipient": str, "nonce": str, "issued_at": int, "body": dict, "signature": str}
_OPTIONAL = {"reply_to": str, "expires_at": int}

KeySource = Callable[[str], keys.PublicKey | str | Mapping[str, object] | None]


class EnvelopeError(OncofedError):
    """An envelope that must not be acted on; the message says why (safe to return)."""


class MalformedEnvelope(EnvelopeError):
    pass


class UnknownSender(EnvelopeError):
    pass


class BadSignature(EnvelopeError):
    pass


class WrongRecipient(EnvelopeError):
    pass


class WrongReply(EnvelopeError):
    pass


class Expired(EnvelopeError):
    pass


class ClockSkew(EnvelopeError):
    pass


class Replay(EnvelopeError):
    pass


class ReplayCacheFull(EnvelopeError):
    """More fresh envelopes than the cache may hold: refuse rather than forget a nonce."""


def canonical(value: Any) -> bytes:
    """The one byte string signed and hashed for a JSON value (see the module docstring)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


class Sealed(BaseModel):
    """An envelope as it travels (the members above), for the HTTP routes that carry one."""

    sender: str
    recipient: str
    nonce: str
    issued_at: int
    expires_at: int | None = None
    reply_to: str | None = None
    body: dict[str, Any]
    signature: str


def seal(body: Mapping[str, Any], sender: str, recipient: str, private_key: keys.PrivateKey, *,
         reply_to: str | None = None, life_s: float | None = None, now: float | None = None) -> dict[str, Any]:
    """A signed envelope carrying ``body`` from ``sender`` to ``recipient``; ``life_s``: how
    long it stays good when that may be longer than the skew window (up to ``MAX_LIFE_S``)."""
    issued_at = int(time.time() if now is None else now)
    unsigned: dict[str, Any] = {
        "sender": sender,
        "recipient": recipient,
        "nonce": keys.b64url_encode(secrets.token_bytes(16)),
        "issued_at": issued_at,
        "body": dict(body),
    }
    if life_s is not None and life_s > MAX_SKEW_S:
        unsigned["expires_at"] = issued_at + math.ceil(min(life_s, MAX_LIFE_S))
    if reply_to is not None:
        unsigned["reply_to"] = reply_to
    return {**unsigned, "signature": keys.b64url_encode(private_key.sign(canonical(unsigned)))}


def open_(envelope: Mapping[str, Any], expected_recipient: str, public_key_of: KeySource,
          replay_cache: ReplayCache, max_skew_s: float = MAX_SKEW_S, *,
          reply_to: str | None = None, now: float | None = None) -> dict[str, Any]:
    """The body of an envelope, once it is shown to be authentic, meant for this recipient,
    fresh and never seen before; otherwise the specific EnvelopeError.

    ``public_key_of(sender)`` returns the sender's key (object, base64url or JWK), or None
    for a sender this party does not know. ``reply_to``: the nonce of the request an
    answer must refer to.
    """
    unsigned = _unsigned(envelope)
    try:
        signed = canonical(unsigned)
    except ValueError:
        raise MalformedEnvelope("the envelope holds numbers JSON cannot carry (NaN, infinity)") from None
    sender = unsigned["sender"]
    key = public_key_of(sender)
    if key is None:
        raise UnknownSender(f"unknown sender {sender!r}")
    try:
        signature = keys.b64url_decode(envelope["signature"])
        keys.public_key(key).verify(signature, signed)
    except (InvalidSignature, keys.KeyFormatError):
        raise BadSignature(f"the signature does not match {sender!r}'s key and the envelope's content") from None
    if unsigned["recipient"] != expected_recipient:
        raise WrongRecipient(f"the envelope is addressed to {unsigned['recipient']!r}, not {expected_recipient!r}")
    if reply_to is not None and unsigned.get("reply_to") != reply_to:
        raise WrongReply("the envelope does not answer the request it was expected to answer")
    now = time.time() if now is None else now
    issued_at = unsigned["issued_at"]
    age = now - issued_at
    expires_at = unsigned.get("expires_at", issued_at)
    if not issued_at <= expires_at <= issued_at + MAX_LIFE_S:
        raise MalformedEnvelope(f"the envelope's expires_at must lie within {MAX_LIFE_S} s after its issued_at")
    good_until = max(issued_at + max_skew_s, expires_at)
    if now > good_until:
        allowed = f"{max_skew_s:g} s allowed" if good_until == issued_at + max_skew_s else \
            f"{good_until - issued_at:g} s its sender allowed"
        raise Expired(f"the envelope was issued {age:.0f} s ago, more than the {allowed}")
    if age < -max_skew_s:
        raise ClockSkew(f"the envelope was issued {-age:.0f} s in the future: check both clocks")
    replay_cache.claim(sender, unsigned["nonce"], good_until, now)
    return unsigned["body"]


def _unsigned(envelope: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(envelope, Mapping):
        raise MalformedEnvelope("an envelope is a JSON object")
    for name, kind in _REQUIRED.items():
        value = envelope.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise MalformedEnvelope(f"the envelope's {name!r} is missing or not a {kind.__name__}")
    for name, kind in _OPTIONAL.items():
        if name in envelope and (not isinstance(envelope[name], kind) or isinstance(envelope[name], bool)):
            raise MalformedEnvelope(f"the envelope's {name!r} is not a {kind.__name__}")
    unknown = set(envelope) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise MalformedEnvelope(f"the envelope has unknown members: {', '.join(sorted(map(str, unknown)))}")
    return {k: v for k, v in envelope.items() if k != "signature"}


class ReplayCache:
    """The nonces of envelopes accepted and still fresh, per sender; thread-safe.

    Bounded: when ``capacity`` fresh nonces are held, new envelopes are refused
    (ReplayCacheFull) rather than an old nonce forgotten, which would allow its replay.
    """

    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self._until: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []  # heap: earliest expiry first
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """How many nonces are held (not a ``__len__``: an empty cache must not be falsy)."""
        return len(self._until)

    def claim(self, sender: str, nonce: str, until: float, now: float) -> None:
        """Record a nonce as used until ``until``; Replay if it was used before."""
        key = (sender, nonce)
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                _, old = heapq.heappop(self._expiry)
                del self._until[old]
            if key in self._until:
                raise Replay(f"this envelope from {sender!r} was already received")
            if len(self._until) >= self.capacity:
                raise ReplayCacheFull("too many requests in the replay window; try again shortly")
            self._until[key] = until
            heapq.heappush(self._expiry, (until, key))
