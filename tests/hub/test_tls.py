"""Transport security end to end: a hub and nodes serving HTTPS with certificates from a CA
the test makes; the SDK, the CLI, the hub and the relay agent verify them. A client without
the CA is refused with a message, and a node whose certificate the hub cannot trust (another
CA's, expired, issued for another name) is that node's error in the answer, not the run's."""

import asyncio
import logging
import time

import httpx
import pytest

from test_federation import LUNG, LUNG_MAP, SPLIT, assert_cox_equals_lifelines, pooled

from oncofed import tls, web
from oncofed.client.federation import Federation, FederationError
from oncofed.hub import home as hub_home
from oncofed.node import home as node_home
from oncofed.node import relay
from oncofed.node.handler import Node
from oncofed.testing import LocalFederation
from oncofed.testing_tls import CertificateAuthority

GOOD = ["a", "b", "c"]
BAD = {  # node → what the hub says of its certificate
    "stranger": "unable to get local issuer certificate",
    "expired": "certificate has expired",
    "misnamed": "mismatch",
}


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    """Nodes a and c direct, b relay, over HTTPS; three more direct nodes whose certificates
    the hub must refuse."""
    folder = tmp_path_factory.mktemp("tls-fed")
    lf = LocalFederation(folder, tls=True)
    for (name, where), transport in zip(SPLIT.items(), ("direct", "relay", "direct")):
        lf.add_node(name, transport=transport).add_dataset("lung", LUNG, mapping=LUNG_MAP, where=where)
    certs = folder / "other-certs"
    lf.add_node("stranger", certificate=CertificateAuthority("a stranger's CA").issue().write(certs, "stranger"))
    lf.add_node("expired", certificate=lf.ca.issue_expired().write(certs, "expired"))
    lf.add_node("misnamed", certificate=lf.ca.issue(("node.example.org",)).write(certs, "misnamed"))
    with lf:
        lf.start()
        yield lf


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    return CertificateAuthority("another CA").write(tmp_path_factory.mktemp("other-ca") / "other-ca.pem")


def test_hub_and_direct_nodes_serve_https_only(fed):
    assert fed.hub_url.startswith("https://") and fed.nodes["a"].url.startswith("https://")
    for url in (fed.hub_url, fed.nodes["a"].url):
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https://", "http://") + "/", timeout=5)
    with web.client(fed.ca_file) as client:
        assert client.get(f"{fed.nodes['a'].url}/node/info").status_code == 200


def test_count_and_cox_over_tls_equal_the_pooled_analysis_over_direct_and_relay_nodes(fed):
    result = fed.federation.count(datasets=["lung"], nodes=GOOD)
    assert result.count == len(pooled())
    assert set(result.per_node.status) == {"ok"} and set(result.per_node.index) == set(GOOD)
    assert_cox_equals_lifelines(fed.federation.cox("os_days", "os_event", ["age", "sex"], datasets=["lung"],
                                                   nodes=GOOD))


def test_a_beacon_query_through_the_hub_over_tls(fed):
    with web.client(fed.ca_file, base_url=fed.hub_url, timeout=30) as client:
        body = client.get("/api/individuals", headers={"Authorization": f"Bearer {fed.token}"}).json()
    nodes = body["info"]["nodes"]
    assert {n: nodes[n]["status"] for n in GOOD} == {n: "ok" for n in GOOD}
    assert body["responseSummary"]["exists"] is True
    for name, says in BAD.items():
        assert nodes[name]["status"] == "error" and says in nodes[name]["reason"], nodes[name]


@pytest.mark.parametrize("name", BAD)
def test_a_node_the_hub_cannot_trust_is_that_nodes_error_not_the_runs(fed, name):
    result = fed.federation.count(datasets=["lung"])
    assert result.count == len(pooled())  # the trusted nodes answered in full
    reason = result.per_node.loc[name, "reason"]
    assert result.per_node.loc[name, "status"] == "error"
    assert "TLS certificate is not trusted" in reason and BAD[name] in reason, reason
    health = fed.federation.nodes().set_index("id")
    assert BAD[name] in health.loc[name, "last_error"]


def test_a_node_serving_an_expired_certificate_is_warned(fed):
    assert "expired on" in (fed.workdir / "node-expired.log").read_text()


def test_a_client_without_the_ca_is_refused_at_once_with_a_clear_message(fed, other_ca):
    for ca in (None, other_ca):
        started = time.monotonic()
        with Federation(fed.hub_url, fed.token, ca=ca) as sdk, pytest.raises(FederationError) as e:
            sdk.count()
        assert time.monotonic() - started < 5  # not retried as if the hub were restarting
        message = str(e.value)
        assert "the hub's TLS certificate is not trusted: unable to get local issuer certificate" in message
        assert "ca=FILE" in message and "ONCOFED_CA_BUNDLE" in message


def test_the_sdk_trusts_the_ca_named_in_the_environment(fed, monkeypatch):
    monkeypatch.setenv("ONCOFED_CA_BUNDLE", str(fed.ca_file))
    with Federation(fed.hub_url, fed.token) as sdk:
        assert sdk.count(datasets=["lung"], nodes=GOOD).count == len(pooled())


def test_the_cli_verifies_the_hub(fed, cli, monkeypatch):
    count = ["analyse", "count", "--hub", fed.hub_url, "--token", fed.token, "--dataset", "lung", "--json"]
    refused = cli(*count, ok=False)
    assert refused.exit_code == 1 and "TLS certificate is not trusted" in refused.output
    assert "Traceback" not in refused.output
    assert '"count": 228' in cli(*count, "--ca", fed.ca_file).stdout
    access = ["access", "list", "--hub", fed.hub_url, "--token", fed.token]
    assert "TLS certificate is not trusted" in cli(*access, ok=False).output
    assert cli(*access, "--ca", fed.ca_file).exit_code == 0
    monkeypatch.setenv("ONCOFED_CA_BUNDLE", str(fed.ca_file))
    assert cli("catalogue", "search", "--hub", fed.hub_url, "--json").exit_code == 0
    missing = cli(*count, "--ca", fed.workdir / "no-such-ca.pem", ok=False)
    assert missing.exit_code == 1 and "no-such-ca.pem: no such file" in missing.output


def test_a_relay_agent_does_not_talk_to_a_hub_it_cannot_verify(fed, other_ca, tmp_path, caplog):
    home = node_home.init(tmp_path / "lonely", "lonely", "DE")
    home = home.save(home.config.model_copy(update={"hub": fed.nodes["b"].home.config.hub}))
    node = Node.open(home)

    async def poll_for_a_while() -> None:
        stop = asyncio.Event()
        agent = asyncio.create_task(relay.run(node, fed.hub_url, stop, other_ca))
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.wait_for(agent, 10)

    try:
        with caplog.at_level(logging.ERROR, logger="oncofed.node.relay"):
            asyncio.run(poll_for_a_while())
    finally:
        node.close()
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert said and "the hub's TLS certificate is not trusted: unable to get local issuer certificate" in said[0]


# serving: every bad file is one clear error, never a traceback ---------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls-files")
    ca = CertificateAuthority()
    cert, key = ca.issue().write(folder, "server")
    _, other_key = ca.issue().write(folder, "other")
    (folder / "junk.pem").write_text("this is not PEM\n")
    from cryptography.hazmat.primitives import serialization

    locked = serialization.load_pem_private_key(key.read_bytes(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"))
    (folder / "locked.key").write_bytes(locked)
    return folder


@pytest.mark.parametrize("args, says", [
    (["--tls-cert", "missing.pem", "--tls-key", "server.key"], "certificate {d}/missing.pem: no such file"),
    (["--tls-cert", "server.pem"], "give both --tls-cert and --tls-key"),
    (["--tls-key", "server.key"], "give both --tls-cert and --tls-key"),
    (["--tls-cert", "junk.pem", "--tls-key", "server.key"], "not a PEM certificate"),
    (["--tls-cert", "server.pem", "--tls-key", "junk.pem"], "not a PEM private key"),
    (["--tls-cert", "server.pem", "--tls-key", "other.key"], "does not belong to certificate"),
    (["--tls-cert", "server.pem", "--tls-key", "locked.key"], "encrypted"),
    (["--tls-cert", "server.pem", "--tls-key", "server.key", "--ca", "junk.pem"], "no PEM certificate in it"),
])
@pytest.mark.parametrize("service", ["hub", "node"])
def test_a_bad_certificate_key_or_ca_stops_serve_with_a_clear_error(cli, files, tmp_path, node, service, args, says):
    home = node.path if service == "node" else hub_home.init(tmp_path / "hub", "Hub", None, None).path
    args = [str(files / a) if not a.startswith("--") else a for a in args]
    result = cli(service, "serve", home, "--port", "1", *args, ok=False)
    assert result.exit_code == 1, result.output
    assert says.format(d=files) in result.output.replace("\n", "") and "Traceback" not in result.output


def test_a_bad_ca_in_the_environment_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("ONCOFED_CA_BUNDLE", str(tmp_path / "gone.pem"))
    with pytest.raises(tls.TLSConfigError, match="gone.pem \\(from ONCOFED_CA_BUNDLE\\): no such file"):
        Federation("https://hub.example.org", None)


def test_verification_cannot_be_turned_off():
    with pytest.raises(TypeError, match="cannot be turned off"):
        web.client(False)
    with pytest.raises(TypeError):
        Federation("https://hub.example.org", None, verify=False)
