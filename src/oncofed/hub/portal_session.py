"""The portal's sign-in session and CSRF tokens: pure functions over a key the hub derives.

A session is a cookie the hub signs (HMAC-SHA256) holding the user's id, when it ends, and
the session's CSRF token. It holds no credential a script could replay against the API: the
portal mints a short-lived hub token for each request it makes on the user's behalf. The
cookie is HttpOnly and SameSite=Strict (and Secure over HTTPS); every POST form carries the
CSRF token, compared in constant time. Before sign-in, a separate short cookie plays the same
part for the sign-in form (double submit), so no other site can sign a visitor in as someone
else.

Sign-in takes a hub token (``oncofed hub user add`` prints one) or a token of an external
OIDC issuer the hub trusts: hub users have no passwords, and adding them would mean a
password store, reset and lockout for what an identity provider already does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from oncofed.auth import keys

SESSION_COOKIE, LOGIN_COOKIE = "oncofed_session", "oncofed_login"
SESSION_S = 8 * 3600
LOGIN_S = 1800  # how long a sign-in form stays valid
_PURPOSE = b"oncofed portal session v1\x00"


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires: int


def session_key(private_key: keys.PrivateKey) -> bytes:
    """The HMAC key of the portal's cookies, derived from the hub's signing key: the same in
    every worker process, and never usable as that key."""
    return hashlib.sha256(_PURPOSE + private_key.private_bytes_raw()).digest()


def new(user: str, now: float | None = None) -> Session:
    return Session(user, secrets.token_urlsafe(24), int((time.time() if now is None else now) + SESSION_S))


def seal(session: Session, key: bytes) -> str:
    payload = keys.b64url_encode(json.dumps({"u": session.user, "c": session.csrf, "e": session.expires},
                                            separators=(",", ":")).encode())
    return f"{payload}.{_mac(key, b'session', payload)}"


def open_(cookie: str | None, key: bytes, now: float | None = None) -> Session | None:
    """The session a cookie holds, or None if it is absent, forged, altered or over."""
    if not cookie or cookie.count(".") != 1:
        return None
    payload, mac = cookie.split(".")
    if not hmac.compare_digest(mac, _mac(key, b"session", payload)):
        return None
    try:
        data = json.loads(keys.b64url_decode(payload))
        session = Session(str(data["u"]), str(data["c"]), int(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > (time.time() if now is None else now) else None


def login_nonce(key: bytes, now: float | None = None) -> str:
    """The value of the pre-sign-in cookie and of the sign-in form's hidden field."""
    expires = int((time.time() if now is None else now) + LOGIN_S)
    payload = f"{expires}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_mac(key, b'login', payload)}"


def login_ok(cookie: str | None, submitted: str | None, key: bytes, now: float | None = None) -> bool:
    """The sign-in form came from this hub's own page, in this browser, recently."""
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        return False
    payload, _, mac = cookie.rpartition(".")
    if not hmac.compare_digest(mac, _mac(key, b"login", payload)):
        return False
    try:
        return int(payload.split(".")[0]) > (time.time() if now is None else now)
    except ValueError:
        return False


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    return session is not None and bool(submitted) and hmac.compare_digest(session.csrf, submitted)


def _mac(key: bytes, what: bytes, payload: str) -> str:
    return keys.b64url_encode(hmac.new(key, what + b"\x00" + payload.encode(), hashlib.sha256).digest())
