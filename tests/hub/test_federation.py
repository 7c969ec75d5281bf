"""The federation end to end: a real hub and real node processes on localhost, over the direct
and the relay transport, on SQLite and on PostgreSQL."""

import concurrent.futures
import json
import time

import httpx
import pandas as pd
import pytest

from conftest import DATA, database

from oncofed.auth import tokens
from oncofed.client.federation import Federation, FederationError
from oncofed.errors import OncofedError
from oncofed.testing import LocalFederation

LUNG = DATA / "ncctg-lung/lung.csv"
LUNG_MAP = DATA / "ncctg-lung/mapping.yaml"
SPLIT = {  # the demo's split of the NCCTG lung trial by institution
    "a": "TRY_CAST(inst AS DOUBLE) <= 7",
    "b": "TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13",
    "c": "inst IS NULL OR TRY_CAST(inst AS DOUBLE) >= 15",
}


def lung_federation(folder, db, transports=("direct", "direct", "relay"), **kw) -> LocalFederation:
    lf = LocalFederation(folder, db=db, **kw)
    for (name, where), transport in zip(SPLIT.items(), transports):
        lf.add_node(name, country={"a": "DE", "b": "NL", "c": "FR"}[name], transport=transport) \
            .add_dataset("lung", LUNG, mapping=LUNG_MAP, where=where)
    return lf


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lung(request, tmp_path_factory):
    """Three nodes holding the lung trial split by institution: two direct, one relay."""
    folder = tmp_path_factory.mktemp(f"fed-{request.param}")
    with database(request.param, folder) as db, lung_federation(folder, db) as lf:
        lf.start()
        yield lf


def pooled() -> pd.DataFrame:
    return pd.read_csv(LUNG)


def test_count_equals_the_pooled_count_over_direct_and_relay_nodes(lung):
    result = lung.federation.count(datasets=["lung"])
    assert result.count == len(pooled())
    assert set(result.per_node.status) == {"ok"}
    assert set(result.per_node.index) == {"a", "b", "c"}


def test_filters_select_the_same_patients_as_pandas(lung):
    result = lung.federation.count(datasets=["lung"], where=[("age", ">=", 65), ("sex", "=", "NCIT:C16576")])
    df = pooled()
    assert result.count == ((df.age >= 65) & (df.sex == 2)).sum()
    written = lung.federation.count(datasets=["lung"], where=["age >= 65", "sex = NCIT:C16576"])  # as the CLI takes them
    assert written.count == result.count
    with pytest.raises(OncofedError, match="expected 'variable op value'"):
        lung.federation.count(datasets=["lung"], where=["age"])


def test_every_answer_names_the_dataset_version_each_node_used(lung):
    per_node = lung.federation.count(datasets=["lung"]).per_node
    for node in "abc":
        (version,) = per_node.loc[node, "datasets"].values()
        assert version.startswith("sha256:")


def test_small_counts_never_appear(lung):
    # Patients aged 80 or more: 1 to 4 of them on some node.
    df = pooled()
    result = lung.federation.count(datasets=["lung"], where=[("age", ">=", 80)])
    raw = json.dumps(result.raw)
    true_total = int((df.age >= 80).sum())
    assert 0 < true_total < 5
    assert result.count is None
    for n in range(1, 5):
        assert f'"count": {n}' not in raw and f": {n}," not in raw.replace('"round": ', "")


def test_a_bad_or_expired_token_is_refused_by_the_hub(lung):
    with Federation(lung.hub_url, "not-a-token") as fed, pytest.raises(FederationError) as e:
        fed.count()
    assert e.value.status == 401 and "not-a-token" not in str(e.value)
    expired = tokens.issue(lung.hub.private_key, lung.hub.config.id, "someone", -120)
    with Federation(lung.hub_url, expired) as fed, pytest.raises(FederationError, match="expired") as e:
        fed.count()
    assert e.value.status == 401


@pytest.mark.parametrize("body, status, says", [
    ({"analysis": "regression-tree"}, 400, "unknown analysis"),
    ({"analysis": "count", "cohort": {"filters": [{"variable": "shoe_size", "op": "<", "value": 40}]}}, 400,
     "shoe_size"),
    ({"analysis": "count", "cohort": {"filters": [{"variable": "age", "op": "~", "value": 1}]}}, 422, "op"),
    ({"analysis": "count", "nodes": ["zz"]}, 400, "unknown node"),
    ({"analysis": "count", "surprise": 1}, 422, "surprise"),
])
def test_bad_requests_get_a_4xx_naming_the_problem(lung, body, status, says):
    response = httpx.post(f"{lung.hub_url}/api/analyses", json=body,
                          headers={"Authorization": f"Bearer {lung.token}"})
    assert response.status_code == status, response.text
    assert says in response.json()["error"]


def test_an_oversized_request_is_refused_before_it_is_read(lung):
    response = httpx.post(f"{lung.hub_url}/api/analyses", content=b"x" * (2 << 20),
                          headers={"Authorization": f"Bearer {lung.token}", "Content-Type": "application/json"})
    assert response.status_code == 413


def test_hub_lists_node_health(lung):
    nodes = lung.federation.nodes().set_index("id")
    assert set(nodes.transport) == {"direct", "relay"}
    assert nodes.loc["c", "last_seen"] is not None


# several hub processes ----------------------------------------------------------------------


def test_several_hub_workers_share_postgresql(tmp_path):
    with database("postgresql", tmp_path) as db, \
            lung_federation(tmp_path, db, transports=("relay", "direct", "relay"), hub_workers=2) as lf:
        lf.start()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            counts = list(pool.map(lambda _: Federation(lf.hub_url, lf.token).count().count, range(16)))
        assert counts == [len(pooled())] * 16


# privacy, audit and exactness through the whole stack -----------------------------------------


def test_a_differencing_attack_is_refused_and_audited(tmp_path, cli):
    with lung_federation(tmp_path, None) as lf:
        fed = lf.start()
        ages = pooled().query("inst <= 7").age.sort_values()
        # two cohorts at node a that differ by one patient: age <= t and age <= t minus one patient
        t_wide = int(ages.iloc[60])
        wide = fed.count(datasets=["lung"], where=[("age", "<=", t_wide)])
        narrow_where = [("age", "<=", t_wide), ("followup_days", "!=", float(
            pooled().query("inst <= 7 and age <= @t_wide").time.iloc[0]))]
        narrow = fed.count(datasets=["lung"], where=narrow_where)
        assert wide.per_node.loc["a", "status"] == "ok"
        assert narrow.per_node.loc["a", "status"] == "refused"
        assert "differ" in narrow.per_node.loc["a", "reason"]
        lf.kill_node("a")  # the store is the node's while it runs
        log = json_of(cli("node", "audit", lf.nodes["a"].home.path, "--json", "--last", "50"))
        assert [e["outcome"] for e in log][-2:] == ["released", "refused"]
        assert cli("node", "audit", lf.nodes["a"].home.path, "--verify").exit_code == 0
        with lf.nodes["a"].home.store() as store:
            store.con.execute("UPDATE audit_log SET outcome = 'released' WHERE seq = (SELECT max(seq) FROM audit_log)")
        broken = cli("node", "audit", lf.nodes["a"].home.path, "--verify", ok=False)
        assert broken.exit_code == 1 and "audit log broken" in broken.output


def test_a_model_on_too_few_records_is_refused(lung):
    with pytest.raises(FederationError) as e:
        lung.federation.cox("os_days", "os_event", ["age"], datasets=["lung"], where=[("age", ">=", 78)])
    assert "fewer than" in str(e.value)


def test_cox_through_the_federation_equals_lifelines_stratified_by_node(lung):
    assert_cox_equals_lifelines(lung.federation.cox("os_days", "os_event", ["age", "sex"], datasets=["lung"]))


def assert_cox_equals_lifelines(result) -> None:
    """``result``: the federated Cox model of survival on age and sex over nodes a, b, c."""
    from lifelines import CoxPHFitter

    df = pooled()
    df["node"] = ["a" if i <= 7 else "b" if 10 <= i <= 13 else "c" for i in df.inst.fillna(99)]
    df["male"] = (df.sex == 1).astype(float)  # sex is dummy-coded against its first level, female
    cph = CoxPHFitter().fit(df[["time", "status", "age", "male", "node"]], "time", "status", strata=["node"],
                            fit_options={"precision": 1e-12})  # converged as far as ours
    ours = result.summary
    for ours_name, theirs in (("age", "age"), (next(i for i in ours.index if i.startswith("sex")), "male")):
        for col in ("coef", "se(coef)"):
            assert ours.loc[ours_name, col] == pytest.approx(cph.summary.loc[theirs, col], rel=1e-6)


def json_of(result):
    return json.loads(result.stdout)


def test_every_analysis_answers_through_the_sdk_with_frames_and_plots(lung):
    import matplotlib

    matplotlib.use("Agg")
    fed = lung.federation
    km = fed.km(datasets=["lung"], group="sex", interval=60)
    assert {"timeline", "survival", "ci_lower", "ci_upper"} <= set(km.summary.columns)
    assert km.result["logrank"]["p"] < 0.05  # women live longer in this trial, as lifelines finds
    km.plot()
    cox = fed.cox("os_days", "os_event", ["age", "sex"], datasets=["lung"])
    assert list(cox.summary.columns[:3]) == ["coef", "exp(coef)", "se(coef)"]
    cox.plot()
    summary = fed.summary("age", datasets=["lung"])
    assert summary.result["n"] == len(pooled()) and summary.result["mean"] == pytest.approx(pooled().age.mean())
    table = fed.crosstab("sex", "vital_status", datasets=["lung"]).table
    assert int(table.to_numpy().sum()) == len(pooled())
    glm = fed.glm("os_event", ["age", "sex"], family="binomial", datasets=["lung"])
    assert "coef" in glm.summary.columns


def test_the_cli_runs_an_analysis_through_the_hub(lung, cli):
    out = cli("analyse", "count", "--hub", lung.hub_url, "--token", lung.token, "--dataset", "lung",
              "--where", "age >= 65", "--json").stdout
    assert json.loads(out)["result"]["count"] == (pooled().age >= 65).sum()


def test_the_cli_shows_a_result_as_the_portals_tables(lung, cli):
    """Without --json, the tables a person reads (the portal's), the nodes and the run's crate."""
    out = cli("analyse", "count", "--hub", lung.hub_url, "--token", lung.token, "--dataset", "lung",
              "--where", "age >= 60").stdout
    assert "Individuals" in out and "all nodes" in out and f"{(pooled().age >= 60).sum():,}" in out
    assert "{" not in out and " nan " not in out and "/provenance" in out
    out = cli("analyse", "crosstab", "sex", "vital_status", "--hub", lung.hub_url, "--token", lung.token,
              "--dataset", "lung").stdout
    assert "Pearson's chi-square test" in out
    out = cli("analyse", "km", "--hub", lung.hub_url, "--token", lung.token, "--dataset", "lung",
              "--interval", "1").stdout  # daily counts are small: the guard merges them, and says so
    assert "Number at risk (days)" in out and "note: base intervals merged" in out


def test_the_cli_runs_summary_cox_and_glm_as_json_and_as_tables(lung, cli):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    from oncofed.client.results import Result

    df = pooled()
    common = ["--hub", lung.hub_url, "--token", lung.token, "--dataset", "lung"]
    summary = json.loads(cli("analyse", "summary", "age", *common, "--json").stdout)["result"]
    assert summary["n"] == len(df)
    assert summary["mean"] == pytest.approx(df.age.mean()) and summary["sd"] == pytest.approx(df.age.std())
    out = cli("analyse", "summary", "age", *common).stdout
    assert "Summary of age" in out and f"{len(df)}" in out and f"{df.age.mean():.4g}" in out

    cox = Result(json.loads(cli("analyse", "cox", "age", "sex", *common, "--json").stdout))
    assert list(cox.summary.index) == ["age", "sex[T.NCIT:C20197]"]
    assert_cox_equals_lifelines(cox)
    out = cli("analyse", "cox", "age", "sex", *common).stdout
    assert "Coefficients" in out and "{" not in out and "/provenance" in out
    assert "…" not in out  # 11 statistics of 2 covariates: printed on its side at 80 columns, not cut short
    assert f"{cox.summary.loc['age', 'coef']:.4g}" in out and f"{cox.summary.loc['age', 'p']:.3g}" in out

    glm = Result(json.loads(cli("analyse", "glm", "os_event", "age", "sex", "--family", "binomial", *common,
                                "--json").stdout))
    df["male"] = (df.sex == 1).astype(float)
    pooled_fit = smf.glm("status ~ age + male", df, family=sm.families.Binomial()).fit()
    assert list(glm.summary.index) == ["Intercept", "age", "sex[T.NCIT:C20197]"]
    assert list(glm.summary["coef"]) == pytest.approx(list(pooled_fit.params), rel=1e-6)
    out = cli("analyse", "glm", "os_event", "age", "sex", "--family", "binomial", *common).stdout
    assert "Coefficients" in out and f"{pooled_fit.params['age']:.4g}" in out


def test_a_node_refuses_forged_and_replayed_requests(lung):
    from oncofed.auth import envelope, keys

    url = f"http://127.0.0.1:{lung.nodes['a'].port}/node/requests"
    body = {"kind": "ping"}
    forged = envelope.seal(body, lung.hub.config.id, "a", keys.generate())
    assert httpx.post(url, json=forged).status_code == 401
    genuine = envelope.seal(body, lung.hub.config.id, "a", lung.hub.private_key)
    assert httpx.post(url, json=genuine).status_code == 200
    replayed = httpx.post(url, json=genuine)
    assert replayed.status_code == 401 and "already received" in replayed.json()["error"]


def test_a_node_takes_a_request_after_the_skew_window_while_the_hub_still_waits(lung):
    """A relay node may poll more than 60 s after the hub queued a request with a longer
    timeout; the hub's envelope says how long it stands by the request."""
    from oncofed.auth import envelope

    url = f"http://127.0.0.1:{lung.nodes['a'].port}/node/requests"
    issued = time.time() - 90

    def sent(**life) -> httpx.Response:
        return httpx.post(url, json=envelope.seal({"kind": "ping"}, lung.hub.config.id, "a", lung.hub.private_key,
                                                  now=issued, **life))

    assert sent(life_s=120).status_code == 200
    stale = sent()
    assert stale.status_code == 401 and "more than the 60 s allowed" in stale.json()["error"]
    over = sent(life_s=80)
    assert over.status_code == 401 and "more than the 80 s its sender allowed" in over.json()["error"]


def bad_token(lung, problem: str) -> str:
    """A researcher token with one thing wrong, for the researcher the federation made."""
    import jwt

    from oncofed.auth import keys

    hub, issuer = lung.hub, lung.hub.config.id
    user = tokens.verify(lung.token, [hub.public_key], issuer=issuer).subject
    if problem == "forged":  # names the hub's key, but another key signed it
        claims = jwt.decode(tokens.issue(keys.generate(), issuer, user, 3600), options={"verify_signature": False})
        return jwt.encode(claims, keys.generate(), algorithm="EdDSA", headers={"kid": keys.kid(hub.private_key)})
    if problem == "another key":
        return tokens.issue(keys.generate(), issuer, user, 3600)
    if problem == "expired":
        return tokens.issue(hub.private_key, issuer, user, -3600)
    if problem == "another issuer":  # the hub's own key, another hub's name
        return tokens.issue(hub.private_key, "another-hub", user, 3600)
    raise ValueError(problem)


def ask_node(lung, node: str, body: dict) -> dict:
    """Send a node a request sealed with the hub's own key, as the hub would; its opened answer."""
    from oncofed.auth import envelope

    sealed = envelope.seal(body, lung.hub.config.id, node, lung.hub.private_key)
    response = httpx.post(f"{lung.nodes[node].url}/node/requests", json=sealed)
    assert response.status_code == 200, response.text
    return envelope.open_(response.json(), lung.hub.config.id, lambda sender: lung.nodes[node].home.public_key,
                          envelope.ReplayCache(), reply_to=sealed["nonce"])


@pytest.mark.parametrize("problem, says", [
    ("forged", "signature is not valid"),
    ("another key", "key this party does not trust"),
    ("expired", "expired"),
    ("another issuer", "not issued by 'local-hub'"),
])
def test_a_node_checks_the_researchers_token_itself_and_audits_a_refusal(lung, problem, says):
    """The envelope is the hub's own, so only the node's own check of the token can refuse it."""
    import uuid

    from oncofed.node import audit

    def analysis() -> dict:
        return {"kind": "analysis", "run": str(uuid.uuid4()), "round": 0, "analysis": "count", "version": "1",
                "cohort": {"datasets": ["lung"]}, "params": {}, "state": {}}

    assert ask_node(lung, "a", analysis() | {"token": lung.token})["status"] == "ok"  # the same with a good token
    request = analysis()
    answer = ask_node(lung, "a", request | {"token": bad_token(lung, problem)})
    assert answer["status"] == "refused" and says in answer["reason"], answer
    assert "partial" not in answer
    steward = {"kind": "audit", "token": lung.token, "roles": [{"role": "steward", "scope": "a"}], "last": 50}
    logged = [e for e in ask_node(lung, "a", steward)["entries"] if e["request_digest"] == audit.digest(request)]
    assert [(e["outcome"], e["requester"], e["kind"]) for e in logged] == [("refused", None, "count@1")]
    assert says in logged[0]["reason"]


def test_allow_lists_and_minimum_nodes_are_the_nodes_own(tmp_path):
    lf = LocalFederation(tmp_path)
    lf.add_node("a", analyses=["count"]).add_dataset("lung", LUNG, mapping=LUNG_MAP, where=SPLIT["a"])
    lf.add_node("b", guard={"min_nodes": 3}).add_dataset("lung", LUNG, mapping=LUNG_MAP, where=SPLIT["b"])
    lf.add_node("c").add_dataset("lung", LUNG, mapping=LUNG_MAP, where=SPLIT["c"])
    with lf:
        fed = lf.start()
        with pytest.raises(FederationError, match="at least 3 nodes") as e:
            fed.cox("os_days", "os_event", ["age"])
        assert "allow-list" in e.value.raw["per_node"]["a"]["reason"]
        assert fed.count().count == len(pooled())  # all three may count
