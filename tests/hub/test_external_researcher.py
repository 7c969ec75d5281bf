"""A researcher signed in with an external OIDC issuer the hub trusts runs analyses and Beacon
queries across real nodes: the hub exchanges the external token for a short-lived one of its
own, which the nodes check themselves (they trust only their hub's signature)."""

import httpx
import pytest
from typer.testing import CliRunner

from auth.test_oidc import AUDIENCE, ExternalIssuer
from conftest import DATA
from oncofed.cli import app
from oncofed.testing import LocalFederation


@pytest.fixture(scope="module")
def idp():
    issuer = ExternalIssuer()
    yield issuer
    issuer.close()


@pytest.fixture(scope="module")
def fed(idp):
    with LocalFederation() as lf:
        lf.add_node("a").add_dataset("lung", DATA / "ncctg-lung/lung.csv", mapping=DATA / "ncctg-lung/mapping.yaml",
                                     where="TRY_CAST(inst AS DOUBLE) <= 12")
        lf.add_node("b", transport="relay").add_dataset(
            "lung", DATA / "ncctg-lung/lung.csv", mapping=DATA / "ncctg-lung/mapping.yaml",
            where="inst IS NULL OR TRY_CAST(inst AS DOUBLE) > 12")
        lf.start()
        added = CliRunner().invoke(app, ["hub", "issuer", str(lf.hub.path), idp.url, "--audience", AUDIENCE,
                                         "--jwks-uri", idp.jwks_uri])
        assert added.exit_code == 0, added.output
        lf.restart_hub()
        yield lf


def test_an_external_researcher_counts_across_the_nodes(fed, idp):
    headers = {"Authorization": f"Bearer {idp.token(name='Dr Ext')}"}
    run = httpx.post(f"{fed.hub_url}/api/analyses", json={"analysis": "count"}, headers=headers, timeout=60)
    assert run.status_code == 200, run.text
    assert run.json()["result"]["count"] == 228
    assert {n["status"] for n in run.json()["per_node"].values()} == {"ok"}


def test_an_external_researcher_gets_beacon_counts_not_just_booleans(fed, idp):
    headers = {"Authorization": f"Bearer {idp.token()}"}
    body = httpx.get(f"{fed.hub_url}/api/individuals", headers=headers, timeout=60).json()
    assert body["meta"]["returnedGranularity"] == "count" and body["responseSummary"]["numTotalResults"] == 228


def test_a_token_from_an_untrusted_issuer_is_refused(fed):
    stranger = ExternalIssuer()
    try:
        run = httpx.post(f"{fed.hub_url}/api/analyses", json={"analysis": "count"}, timeout=60,
                         headers={"Authorization": f"Bearer {stranger.token()}"})
    finally:
        stranger.close()
    assert run.status_code == 401
