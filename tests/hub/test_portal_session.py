"""The portal's session cookie and CSRF tokens, without a server."""

from oncofed.auth import keys
from oncofed.hub import portal_session as s

KEY = s.session_key(keys.generate())


def test_a_sealed_session_opens_with_its_key_until_it_ends():
    session = s.new("u1", now=1000)
    cookie = s.seal(session, KEY)
    assert s.open_(cookie, KEY, now=1001) == session
    assert s.open_(cookie, KEY, now=session.expires) is None  # ended
    assert s.open_(cookie, s.session_key(keys.generate()), now=1001) is None  # another hub's key


def test_an_altered_or_malformed_cookie_opens_to_nothing():
    cookie = s.seal(s.new("u1", now=1000), KEY)
    payload, mac = cookie.split(".")
    other = s.seal(s.new("admin", now=1000), KEY).split(".")[0]
    for forged in (f"{other}.{mac}", f"{payload}.{mac[:-2]}AA", payload, "", None, "a.b.c", f"{payload[:-4]}.{mac}"):
        assert s.open_(forged, KEY, now=1001) is None


def test_the_session_key_is_not_the_hubs_signing_key_and_is_the_same_in_every_process():
    hub = keys.generate()
    assert s.session_key(hub) == s.session_key(hub) != hub.private_bytes_raw()


def test_csrf_and_the_sign_in_form_need_the_value_this_browser_was_given():
    session = s.new("u1")
    assert s.csrf_ok(session, session.csrf)
    assert not s.csrf_ok(session, "") and not s.csrf_ok(session, None) and not s.csrf_ok(None, session.csrf)
    assert not s.csrf_ok(session, s.new("u1").csrf)
    nonce = s.login_nonce(KEY, now=1000)
    assert s.login_ok(nonce, nonce, KEY, now=1001)
    assert not s.login_ok(None, nonce, KEY, now=1001)  # no cookie: posted from another site
    assert not s.login_ok(nonce, s.login_nonce(KEY, now=1000), KEY, now=1001)
    assert not s.login_ok(nonce, nonce, KEY, now=1000 + s.LOGIN_S + 1)
    made_up = "99999999999.x.y"
    assert not s.login_ok(made_up, made_up, KEY, now=1001)
