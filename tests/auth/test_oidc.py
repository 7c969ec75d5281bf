"""Tokens of an external OIDC issuer, accepted by its JWKS: a second, independent issuer runs
in the test as a real HTTP server with its own key pair, and the hub accepts its researchers."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from oncofed.auth import keys, oidc, tokens, visas
from oncofed.auth.oidc import Issuer, JwksCache, OidcError
from oncofed.hub import home as hub_home
from oncofed.hub.app import create_app
from oncofed.hub.identity import Identities
from oncofed.hub.store import HubStore

AUDIENCE = "oncofed-hub"


class ExternalIssuer:
    """A tiny OIDC issuer: an RSA key pair, a JWKS served over HTTP, tokens on demand."""

    def __init__(self):
        self.key, self.kid = self._new_key()
        self.hits: list[str] = []
        self.down = False
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.hits.append(self.path)
                if issuer.down or self.path != "/jwks":
                    self.send_error(503 if issuer.down else 404)
                    return
                body = json.dumps(issuer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.jwks_uri = f"{self.url}/jwks"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @staticmethod
    def _new_key():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key, f"k-{id(key)}"

    def rotate(self) -> None:
        self.key, self.kid = self._new_key()

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [public | {"kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def token(self, sub="ext-user-1", aud=AUDIENCE, iss=None, ttl=600, iat=None, key=None, alg="RS256", **claims):
        now = int(time.time() if iat is None else iat)
        payload = {"iss": iss or self.url, "sub": sub, "aud": aud, "iat": now, "exp": now + ttl} | claims
        return jwt.encode(payload, key or self.key, algorithm=alg, headers={"kid": self.kid})

    def config(self) -> Issuer:
        return Issuer(issuer=self.url, audience=AUDIENCE, jwks_uri=self.jwks_uri)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp():
    issuer = ExternalIssuer()
    yield issuer
    issuer.close()


@pytest.fixture
def cache():
    c = JwksCache()
    yield c
    c.close()


def test_a_token_of_a_configured_issuer_is_accepted_by_its_published_keys(idp, cache):
    who = oidc.verify(idp.token(name="Dr Ext"), [idp.config()], cache)
    assert (who.issuer, who.subject, who.name) == (idp.url, "ext-user-1", "Dr Ext")
    oidc.verify(idp.token(sub="another"), [idp.config()], cache)
    assert idp.hits == ["/jwks"]  # fetched once, then cached


def test_inline_keys_need_no_fetching(idp, cache):
    inline = Issuer(issuer=idp.url, audience=AUDIENCE, keys=idp.jwks()["keys"])
    assert oidc.verify(idp.token(), [inline], cache).subject == "ext-user-1"
    assert idp.hits == []


@pytest.mark.parametrize("change, message", [
    ({"aud": "someone-else"}, "not meant for"),
    ({"iss": "https://unknown.example.org"}, "not one this service trusts"),
    ({"ttl": -120}, "has expired"),
    ({"iat": time.time() + 3600}, "not valid yet"),
    ({"sub": "x" * 256}, "longer than 255"),
])
def test_tokens_that_prove_nothing_are_refused(idp, cache, change, message):
    token = idp.token(**change)
    with pytest.raises(OidcError, match=message) as e:
        oidc.verify(token, [idp.config()], cache)
    assert all(part not in str(e.value) for part in token.split("."))
    assert isinstance(e.value, tokens.TokenError)  # a 401 at the hub


def test_a_token_signed_by_another_key_is_refused(idp, cache):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(OidcError, match="signature is not valid"):
        oidc.verify(idp.token(key=stranger), [idp.config()], cache)


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_only_rs256_and_es256_are_accepted(idp, cache, alg):
    payload = jwt.decode(idp.token(), options={"verify_signature": False})
    token = jwt.encode(payload, None if alg == "none" else "s" * 32, algorithm=alg, headers={"kid": idp.kid})
    with pytest.raises(OidcError, match="only RS256 and ES256"):
        oidc.verify(token, [idp.config()], cache)


def test_a_rotated_key_is_fetched_again_but_not_more_than_once_a_minute(idp, cache):
    keys_ = cache.keys(idp.jwks_uri, now=0.0)
    idp.rotate()
    assert cache.keys(idp.jwks_uri, kid=idp.kid, now=10.0) == keys_  # too soon: no fetch
    assert idp.hits == ["/jwks"]
    assert cache.keys(idp.jwks_uri, kid=idp.kid, now=61.0)[0]["kid"] == idp.kid
    assert idp.hits == ["/jwks", "/jwks"]


def test_an_issuer_that_cannot_be_reached_is_a_clear_error_and_is_not_hammered(idp, cache):
    idp.down = True
    with pytest.raises(OidcError, match="cannot fetch the keys"):
        cache.keys(idp.jwks_uri, now=0.0)
    with pytest.raises(OidcError, match="retrying later"):
        cache.keys(idp.jwks_uri, now=30.0)
    assert len(idp.hits) == 1
    idp.down = False
    assert cache.keys(idp.jwks_uri, now=61.0)


def test_visa_keys_are_fetched_only_from_allow_listed_urls(idp, cache):
    dac = keys.generate_visa_key()
    trust = visas.TrustConfig(issuers=[visas.TrustedIssuer(issuer="https://dac.example.org", jku=[idp.jwks_uri],
                                                           sources=["https://dac.example.org/*"])])
    loaded = oidc.refresh_visa_keys(trust, cache)
    assert loaded.fetched == {idp.jwks_uri: idp.jwks()["keys"]}
    assert idp.hits == ["/jwks"]
    idp.down = True  # a set that cannot be fetched again keeps its last copy
    assert oidc.refresh_visa_keys(loaded, JwksCache()).fetched == loaded.fetched
    assert keys.visa_jwk(dac)["kid"] not in {k["kid"] for k in loaded.fetched[idp.jwks_uri]}


# the hub accepts the external issuer's researchers -----------------------------------------------------


@pytest.fixture
def hub_client(tmp_path, hub_db, idp, cli):
    hub = hub_home.init(tmp_path / "hub", "Test hub", "test-hub", hub_db)
    cli("hub", "identity", hub.path, "--url", "https://hub.example.org/")
    cli("hub", "issuer", hub.path, idp.url, "--audience", AUDIENCE, "--jwks-uri", idp.jwks_uri)
    with TestClient(create_app(hub.path)) as client:
        yield hub, client


def test_the_operator_names_the_issuers_the_hub_accepts(tmp_path, cli, idp):
    path = tmp_path / "hub"
    cli("hub", "init", path, "--name", "H")
    lacking = cli("hub", "issuer", path, idp.url, "--jwks-uri", idp.jwks_uri, ok=False)
    assert lacking.exit_code == 1 and "--audience" in lacking.output
    no_keys = cli("hub", "issuer", path, idp.url, "--audience", AUDIENCE, ok=False)
    assert no_keys.exit_code == 1 and "jwks_uri or inline keys" in no_keys.output
    (tmp_path / "jwks.json").write_text(json.dumps(idp.jwks()))
    cli("hub", "issuer", path, idp.url, "--audience", AUDIENCE, "--jwks", tmp_path / "jwks.json")
    cli("hub", "identity", path, "--url", "https://hub.example.org/")
    shown = json.loads(cli("hub", "identity", path, "--json").stdout)
    assert shown["url"] == "https://hub.example.org"
    assert [(i["issuer"], i["audience"], i["keys"]) for i in shown["issuers"]] == [(idp.url, AUDIENCE, idp.jwks()["keys"])]
    assert yaml.safe_load((path / "identity.yaml").read_text())["url"] == "https://hub.example.org"
    cli("hub", "issuer", path, idp.url, "--remove")
    assert json.loads(cli("hub", "identity", path, "--json").stdout)["issuers"] == []
    bad = cli("hub", "identity", path, "--url", "ftp://hub", ok=False)
    assert bad.exit_code == 1 and "not an http(s) URL" in bad.output


def test_the_hub_accepts_an_external_researcher_and_remembers_them(hub_client, idp):
    hub, client = hub_client
    first = client.get("/api/me", headers={"Authorization": f"Bearer {idp.token(name='Dr Ext')}"})
    assert first.status_code == 200, first.text
    me = first.json()
    assert me["name"] == "Dr Ext" and me["signed_in_with"] == idp.url
    assert me["roles"] == [{"role": "researcher", "scope": ""}]
    again = client.get("/api/me", headers={"Authorization": f"Bearer {idp.token()}"}).json()
    assert again["user"] == me["user"]
    other = client.get("/api/me", headers={"Authorization": f"Bearer {idp.token(sub='ext-user-2')}"}).json()
    assert other["user"] != me["user"]
    # roles are given to the hub user behind the external identity
    store = HubStore(hub.config.db)
    try:
        store.add_node("node-a", "A", "DE", "relay", keys.public_b64(keys.generate()))
        Identities(store).grant(me["user"], "dac", "node-a/lung")
    finally:
        store.dispose()
    roles = client.get("/api/me", headers={"Authorization": f"Bearer {idp.token()}"}).json()["roles"]
    assert {"role": "dac", "scope": "node-a/lung"} in roles


def test_the_hub_refuses_external_tokens_that_prove_nothing(hub_client, idp):
    _, client = hub_client
    for token in (idp.token(aud="elsewhere"), idp.token(iss="https://stranger.example.org"), "not-a-token"):
        r = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "error" in r.json()
        assert token not in r.text
    assert client.get("/api/me").status_code == 401


def test_hub_tokens_still_work_beside_external_ones(hub_client):
    hub, client = hub_client
    store = HubStore(hub.config.db)
    try:
        user = store.add_user("Local researcher")
    finally:
        store.dispose()
    token = tokens.issue(hub.private_key, hub.config.id, user, 600)
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {"user": user, "name": "Local researcher", "roles": [{"role": "researcher", "scope": ""}],
                  "signed_in_with": "hub"}


def test_the_hub_publishes_its_keys_and_openid_configuration(hub_client):
    hub, client = hub_client
    jwks = client.get("/.well-known/jwks.json").json()
    by_kty = {k["kty"]: k for k in jwks["keys"]}
    assert by_kty["OKP"] == keys.public_jwk(hub.private_key)  # researcher tokens (EdDSA)
    assert by_kty["EC"]["crv"] == "P-256" and by_kty["EC"]["alg"] == "ES256"  # visas
    meta = client.get("/.well-known/openid-configuration").json()
    assert meta["issuer"] == "https://hub.example.org"
    assert meta["jwks_uri"] == "https://hub.example.org/.well-known/jwks.json"
    assert meta["ga4gh_passport_endpoint"] == "https://hub.example.org/api/access/passport"
    # the visa key verifies a visa the hub signs
    trust = visas.TrustConfig.model_validate(client.get("/api/access/trust").json())
    assert trust.issuers[0].keys == [by_kty["EC"]]


def test_an_external_researchers_permit_is_joined_to_their_external_identity(hub_client, idp):
    hub, client = hub_client
    external = {"Authorization": f"Bearer {idp.token()}"}
    me = client.get("/api/me", headers=external).json()
    store = HubStore(hub.config.db)
    try:
        store.add_node("node-a", "A", "DE", "relay", keys.public_b64(keys.generate()))
        dac = store.add_user("DAC member")
        Identities(store).grant(dac, "dac", "node-a/lung")
    finally:
        store.dispose()
    made = client.post("/api/access/requests", headers=external, json={
        "datasets": ["node-a/lung"], "purpose": {"code": "HMB", "text": "lung cancer survival"}})
    assert made.status_code == 201, made.text
    item = made.json()["items"][0]["id"]
    dac_token = tokens.issue(hub.private_key, hub.config.id, dac, 600)
    approved = client.post(f"/api/access/items/{item}/decisions", json={"action": "approve"},
                           headers={"Authorization": f"Bearer {dac_token}"})
    assert approved.status_code == 200, approved.text

    trust = visas.TrustConfig.model_validate(client.get("/api/access/trust").json())
    revocations = visas.verify_revocations(client.get("/api/access/revocations").json()["revocations"], trust)

    def node_decides(headers):
        passport = client.get("/api/access/passport", headers=headers).json()["passport"]
        # a node that knows the researcher only by the external issuer's token
        return visas.controlled_datasets(passport, trust, now=time.time(), revocations=[revocations],
                                         holder=visas.Identity(idp.url, "ext-user-1"))

    assert set(node_decides(external).grants) == {visas.dataset_value("https://hub.example.org", "node-a", "lung")}
    # asked for with a hub token, the passport carries no link to the external identity
    hub_token = tokens.issue(hub.private_key, hub.config.id, me["user"], 600)
    assert node_decides({"Authorization": f"Bearer {hub_token}"}).grants == {}
