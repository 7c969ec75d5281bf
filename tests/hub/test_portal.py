"""The portal in a real browser: Debian's Chromium driven by Playwright, against a real
federation (a hub, a direct node and a node behind the relay, holding the demo cohorts and the
HCC1187 variant calls). A researcher signs in, searches the catalogue, builds a cohort, runs a
Kaplan–Meier analysis of the GBSG-2 trial, sees the plot and downloads the run's RO-Crate;
requests access, which the dataset's DAC approves; the node's steward sees the researcher's
requests in the node's audit log. Every page fits the window at 1280 px and at a phone's width
(screenshotted at both), and no page logs a console error.

Screenshots go to ``$ONCOFED_SCREENSHOTS`` if set, else to pytest's temporary folder.
Without Chromium or Playwright the browser tests skip, except under CI=true.
"""

import html
import io
import json
import os
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser tests skip (see ``browser``)
    expect = None

from conftest import DATA
from rocrate.rocrate import ROCrate

from oncofed.auth import tokens
from oncofed.hub.identity import Identities
from oncofed.hub.store import HubStore
from oncofed.testing import LocalFederation

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
LUNG = DATA / "ncctg-lung/lung.csv", DATA / "ncctg-lung/mapping.yaml"
RESEARCHER = "local researcher"  # LocalFederation's own user
RFS = "ONCOFED:recurrence_free_survival"  # GBSG-2's endpoint
MIN_TIME_POINTS = 10  # fewer, and a Kaplan–Meier curve is a step or two: no plot to read


@pytest.fixture(scope="module")
def fed():
    with LocalFederation() as lf:
        lf.add_node("de", country="DE") \
            .add_dataset("gbsg2", DATA / "gbsg2/gbsg2.csv", mapping=DATA / "gbsg2/mapping.yaml") \
            .add_dataset("ncctg-lung", LUNG[0], mapping=LUNG[1], where="TRY_CAST(inst AS DOUBLE) <= 7")
        lf.add_node("nl", country="NL", transport="relay") \
            .add_dataset("ncctg-lung", LUNG[0], mapping=LUNG[1], where="TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13") \
            .add_dataset("hcc1187", DATA / "vcf/chr7-sub.vcf.gz", format="vcf", samples=DATA / "vcf/hcc1187-samples.tsv")
        lf.start()
        lf.kill_node("de")  # consent codes, as `oncofed node add-dataset --duo` sets them
        with lf.nodes["de"].home.store() as store:
            store.con.execute("UPDATE datasets SET duo = ['DUO:0000042'] WHERE id = 'ncctg-lung'")  # GRU
        lf.start_node("de")
        store = HubStore(lf.hub.config.db)
        try:
            lf.users = {"dac": store.add_user("Dana DAC"), "steward": store.add_user("Sam Steward")}
            roles = Identities(store)
            roles.grant(lf.users["dac"], "dac", "de/ncctg-lung")
            roles.grant(lf.users["steward"], "steward", "de")
            roles.grant(lf.users["steward"], "steward", "nl")
        finally:
            store.dispose()
        lf.tokens = {who: tokens.issue(lf.hub.private_key, lf.hub.config.id, user, timedelta(hours=2))
                     for who, user in lf.users.items()} | {"researcher": lf.token}
        harvested = api(lf, "researcher", "POST", "/api/catalogue/harvest", json={})
        assert {n: s["status"] for n, s in harvested.json()["nodes"].items()} == {"de": "ok", "nl": "ok"}
        lf.pages = {}  # pages the flows reach, for the phone test
        yield lf


def api(fed, who, method, path, **kw) -> httpx.Response:
    return httpx.request(method, fed.hub_url + path, headers={"Authorization": f"Bearer {fed.tokens[who]}"},
                         timeout=90, **kw)


# the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright, missing = None, "the playwright package is not installed (the test extra)"
    else:
        missing = None if CHROMIUM.exists() else f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}, and CI needs it")
        pytest.skip(missing)
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("ONCOFED_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Visitor:
    """One person's browser window: signs in, goes to pages, screenshots them, and keeps every
    console error and uncaught exception the pages raise."""

    def __init__(self, browser, fed, shots: Path, viewport: dict, who: str):
        self.fed, self.shots, self.viewport, self.who = fed, shots, viewport, who
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"{self.page.url}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"{self.page.url}: {e}"))
        self.page.set_default_timeout(60_000)

    def sign_in(self) -> None:
        self.go("/portal/login")
        self.page.get_by_label("Token").fill(self.fed.tokens[self.who])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(re.compile(r"/portal$"))

    def go(self, path: str) -> None:
        self.page.goto(self.fed.hub_url + path)
        self.page.wait_for_load_state("networkidle")

    def shot(self, name: str) -> Path:
        self.page.wait_for_load_state("networkidle")
        file = self.shots / f"{name}-{self.viewport['width']}.png"
        self.page.screenshot(path=file, full_page=True)
        assert file.stat().st_size > 0
        return file

    def fits(self) -> None:
        """Nothing wider than the window: tables scroll inside their own box."""
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= self.viewport["width"], f"{self.page.url} is {width} px wide at {self.viewport['width']} px"

    def close(self) -> None:
        self.context.close()
        assert self.errors == []


def cells(page, table: str) -> dict[str, str]:
    """First column → second column of the table matched by the selector."""
    rows = page.locator(f"{table} tbody tr")
    return {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").first.inner_text()
            for i in range(rows.count())}


# the flows --------------------------------------------------------------------------------------


def test_a_researcher_searches_builds_a_cohort_and_sees_a_kaplan_meier_plot_and_its_provenance(
        fed, browser, shots, tmp_path):
    me = Visitor(browser, fed, shots, DESKTOP, "researcher")
    page = me.page
    me.sign_in()
    assert page.get_by_role("heading", name=f"Signed in as {RESEARCHER}").is_visible()
    me.shot("home")

    me.go("/portal/catalogue")
    page.get_by_label("Search the catalogue").fill("lung")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"q=lung"))
    assert page.get_by_role("heading", name="2 datasets").is_visible()
    page.get_by_role("group", name="Country").get_by_label("Germany").check()  # a facet applies when ticked
    page.wait_for_url(re.compile(r"country=DE"))
    assert page.get_by_role("heading", name="1 dataset").is_visible()
    me.shot("catalogue")

    page.get_by_role("link", name="ncctg-lung").click()
    page.wait_for_url(re.compile(r"/catalogue/de/ncctg-lung$"))
    assert page.locator('script[type="application/ld+json"]').count() == 1
    assert "Lung Carcinoma" in page.locator("table.facts").inner_text()
    me.shot("dataset")

    page.get_by_role("link", name="Build a cohort from this dataset").click()
    page.wait_for_url(re.compile(r"/portal/cohort\?"))
    assert cells(page, "table.counts-table") == {"de": "95"}
    page.get_by_role("group", name="Nodes").get_by_label("de").uncheck()  # every node: counts refresh live
    expect(page.locator("table.counts-table tbody tr")).to_have_count(2)
    assert cells(page, "table.counts-table") == {"de": "95", "nl": "65"}
    page.get_by_label("Variable").first.fill("age")
    page.get_by_label("Comparison").first.select_option(">=")
    page.get_by_label("Value").first.fill("60")
    page.get_by_label("Value").first.dispatch_event("change")
    expect(page.locator("#counts")).to_contain_text("age ≥ 60")
    shown = cells(page, "table.counts-table")
    sdk = fed.federation.count(datasets=["ncctg-lung"], where=[("age", ">=", 60)])
    assert shown == {"de": "59", "nl": "39"} and page.locator("#total").inner_text() == str(sdk.count) == "98"
    me.shot("cohort")

    # a Kaplan–Meier curve of a few hundred patients: the nodes' guards release it on a fine grid
    datasets = page.get_by_role("group", name="Datasets")
    datasets.get_by_label("ncctg-lung").uncheck()
    datasets.get_by_label("gbsg2").check()
    page.get_by_role("button", name="Remove this criterion").first.click()
    expect(page.locator("#total")).to_have_text("686")  # the whole GBSG-2 trial, at de
    assert cells(page, "table.counts-table") == {"de": "686", "nl": "–"}
    assert "holds none of the requested datasets" in page.locator("tr[data-node='nl']").inner_text()
    twin = page.locator("footer a.twin")  # follows the cohort, as the page's alternate link does
    assert twin.get_attribute("href") == "/api/cohort/counts?dataset=gbsg2"
    assert page.locator('link[rel="alternate"]').get_attribute("href") == "/api/cohort/counts?dataset=gbsg2"
    assert api(fed, "researcher", "GET", twin.get_attribute("href")).json()["total"] == "686"
    page.get_by_role("link", name="Analyse this cohort").click()
    page.wait_for_url(re.compile(r"/portal/analyses/new\?dataset=gbsg2"))
    assert "Datasets: gbsg2" in page.locator("main").inner_text()
    km = page.get_by_role("group", name="Kaplan–Meier")
    km.get_by_label("Time").fill(f"days:{RFS}")  # the trial's endpoint: recurrence-free survival
    km.get_by_label("Event").fill(f"event:{RFS}")
    me.shot("analysis-form")
    page.get_by_role("button", name="Run the analysis").click()
    page.wait_for_url(re.compile(r"/portal/analyses/[0-9a-f-]{36}$"))
    fed.pages["km"] = page.url.removeprefix(fed.hub_url)
    run_id = fed.pages["km"].rsplit("/", 1)[1]
    assert page.get_by_role("heading", name="Kaplan–Meier survival").is_visible()
    plot = page.locator("figure.plot img")
    expect(plot).to_have_js_property("complete", True)
    assert plot.evaluate("img => img.naturalWidth") > 0
    at_risk = page.locator("section.result-table").filter(has_text="Number at risk").locator("tbody tr td").first
    assert at_risk.inner_text() == "686"  # everyone is at risk at day 0
    me.shot("kaplan-meier")

    svg = page.request.get(fed.hub_url + fed.pages["km"] + "/figure.svg")
    png = page.request.get(fed.hub_url + fed.pages["km"] + "/figure.png")
    csv = page.request.get(fed.hub_url + fed.pages["km"] + "/result.csv")
    assert svg.ok and svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.body()
    assert png.ok and png.body().startswith(b"\x89PNG")
    rows = csv.text().splitlines()
    assert csv.ok and rows[0] == ",timeline,at_risk,events,censored,survival,ci_lower,ci_upper"
    assert rows[1].split(",")[1:3] == ["0.0", "686"]
    released = [r for r in rows[1:] if float(r.split(",")[1]) > 0]
    assert len(released) >= MIN_TIME_POINTS, f"a curve of {len(released)} time points: {rows}"

    with page.expect_download() as downloading:
        page.get_by_role("link", name="RO-Crate").click()
    download = downloading.value
    assert download.suggested_filename == f"oncofed-run-{run_id}.crate.zip"
    download.save_as(tmp_path / download.suggested_filename)
    crate = ROCrate(tmp_path / download.suggested_filename)
    action = crate.get("#run")
    assert action["identifier"] == run_id
    run = api(fed, "researcher", "GET", f"/api/analyses/{run_id}").json()
    used = {(n, d): h for n, p in run["per_node"].items() if p["status"] == "ok" for d, h in p["datasets"].items()}
    inputs = {e.id: e for e in action["object"]}
    assert {(e["provider"]["identifier"], e["identifier"]): e["version"]
            for e in inputs.values() if e.type == "Dataset"} == used == {("de", "gbsg2"): used[("de", "gbsg2")]}
    assert json.loads(inputs["#input-cohort"]["value"])["datasets"] == ["gbsg2"]
    assert inputs["#input-duration"]["value"] == f"days:{RFS}"
    me.close()


def test_a_count_a_node_withholds_shows_as_less_than_five_in_the_page_and_the_export(fed, browser, shots):
    me = Visitor(browser, fed, shots, DESKTOP, "researcher")
    page = me.page
    me.sign_in()
    me.go("/portal/cohort?dataset=ncctg-lung&v=age&op=%3E%3D&val=75")  # two such patients at nl
    assert cells(page, "table.counts-table") == {"de": "7", "nl": "< 5"}
    assert page.locator("#total").inner_text() == "8–11"  # 7 and a part of 1 to 4
    me.go("/portal/cohort?dataset=hcc1187&gene=EGFR")  # one individual carries it
    assert cells(page, "table.counts-table.variant") == {"nl": "yes, count withheld"}
    nl = page.locator("table.counts-table:not(.variant) tr[data-node='nl']").inner_text()
    assert "refused" in nl and "differs by fewer than 5" in nl  # one of the two above: the differencing guard
    me.shot("cohort-withheld")
    me.go("/portal/analyses/new?dataset=ncctg-lung&analysis=crosstab")
    page.get_by_label("Rows").fill("measurement:LOINC:89247-1")  # ECOG 3: one man, at nl
    page.get_by_label("Columns").fill("sex")
    page.get_by_role("button", name="Run the analysis").click()
    page.wait_for_url(re.compile(r"/portal/analyses/[0-9a-f-]{36}$"))
    fed.pages["crosstab"] = page.url.removeprefix(fed.hub_url)
    table = page.locator("section.result-table").first
    assert table.locator("thead th").all_inner_texts()[1:] == ["Female (NCIT:C16576)", "Male (NCIT:C20197)"]
    # nl holds the ECOG 3 cell of one: it refuses its whole table, which is the other nodes' sum
    nl = page.locator("section[aria-labelledby='per-node'] tr").filter(has=page.locator("th", has_text="nl"))
    assert "refused" in nl.inner_text() and "released whole or not at all" in nl.inner_text()
    assert not table.locator("tbody th", has_text=re.compile(r"^3$")).count()
    csv = page.request.get(page.url + "/result.csv").text()
    assert "< 5" not in csv and "\n3," not in csv.replace("\r", "")
    me.shot("crosstab")
    me.close()


def test_access_is_requested_approved_by_the_dac_and_seen_in_the_nodes_audit_log_by_its_steward(fed, browser, shots):
    researcher = Visitor(browser, fed, shots, DESKTOP, "researcher")
    page = researcher.page
    researcher.sign_in()
    researcher.go("/catalogue/de/ncctg-lung")
    page.get_by_role("link", name="Request access").click()
    assert page.get_by_label("ncctg-lung").first.is_checked()
    page.get_by_label("health or medical or biomedical research").check()
    page.get_by_label("Your project, in your words").fill("Survival of older patients with advanced lung cancer")
    researcher.shot("access-form")
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r"/portal/access/[0-9a-f-]{36}$"))
    fed.pages["request"] = page.url.removeprefix(fed.hub_url)
    assert page.locator("[data-item='de/ncctg-lung'] h2").inner_text() == "de/ncctg-lung submitted"
    researcher.shot("access-request")

    dac = Visitor(browser, fed, shots, DESKTOP, "dac")
    dac.sign_in()
    dac.go("/portal/access")
    review = dac.page.get_by_role("region", name="To review")
    assert RESEARCHER in review.inner_text()
    dac.shot("access-list")
    review.get_by_role("link", name="Survival of older patients").click()
    item = dac.page.locator("[data-item='de/ncctg-lung']")
    assert "The consent allows this purpose" in item.inner_text()  # GRU covers health/medical research
    item.get_by_label(re.compile("^Note")).fill("Fine for survival research")
    dac.shot("dac-review")
    item.get_by_role("button", name="Approve").click()
    dac.page.wait_for_load_state("networkidle")
    item = dac.page.locator("[data-item='de/ncctg-lung']")
    assert item.locator("h2").inner_text() == "de/ncctg-lung approved"
    assert "“Fine for survival research”" in item.inner_text() and "Permit" in item.inner_text()
    dac.shot("dac-approved")
    dac.close()

    researcher.go(fed.pages["request"])
    assert page.locator("[data-item='de/ncctg-lung'] h2").inner_text() == "de/ncctg-lung approved"
    researcher.close()

    steward = Visitor(browser, fed, shots, DESKTOP, "steward")
    steward.sign_in()
    steward.page.get_by_role("link", name="Audit log").first.click()
    steward.page.get_by_role("link", name="de", exact=True).click()
    steward.page.wait_for_url(re.compile(r"/portal/audit/de$"))
    rows = steward.page.locator("table.audit tbody tr[data-kind='km@1']")
    assert rows.count() >= 1, steward.page.locator("main").inner_text()[:3000]
    assert RESEARCHER in rows.first.inner_text() and "released" in rows.first.inner_text()
    steward.shot("audit")
    fed.pages["audit"] = "/portal/audit/de"
    steward.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_page_fits_the_window_and_logs_no_console_error(fed, browser, shots, viewport):
    assert {"km", "crosstab", "request", "audit"} <= set(fed.pages), "run with the flows above"
    seen = {
        "researcher": ["/portal", "/portal/catalogue?q=lung", "/catalogue/de/gbsg2",
                       "/portal/cohort?dataset=ncctg-lung&v=age&op=%3E%3D&val=60", "/portal/analyses/new",
                       fed.pages["km"], fed.pages["crosstab"], "/portal/access", "/portal/access/new",
                       fed.pages["request"], "/portal/nodes"],
        "dac": ["/portal/access", fed.pages["request"]],
        "steward": [fed.pages["audit"]],
    }
    for who, paths in seen.items():
        visitor = Visitor(browser, fed, shots, viewport, who)
        visitor.sign_in()
        for path in paths:
            visitor.go(path)
            visitor.fits()
            name = re.sub(r"[^a-z0-9]+", "-", path.split("?")[0].lower()).strip("-")[:40] or "home"
            visitor.shot(f"{who}-{name}")
        visitor.close()


# without a browser: sessions, forms, the audit route ----------------------------------------------


def signed_in(fed, who: str) -> httpx.Client:
    client = httpx.Client(base_url=fed.hub_url, timeout=90)
    form = client.get("/portal/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)[1]
    done = client.post("/portal/login", data={"nonce": nonce, "token": fed.tokens[who], "next": "/portal/nodes"})
    assert done.status_code == 303 and done.headers["location"] == "/portal/nodes"
    return client


def test_the_session_cookie_is_signed_http_only_and_same_site_strict(fed):
    client = signed_in(fed, "researcher")
    cookie = [h for h in client.cookies.jar if h.name == "oncofed_session"][0]
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "strict"
    assert client.get("/portal/nodes").status_code == 200
    forged = cookie.value[:-3] + ("AAA" if not cookie.value.endswith("AAA") else "BBB")
    other = httpx.Client(base_url=fed.hub_url, cookies={"oncofed_session": forged})
    assert other.get("/portal/nodes").headers["location"].startswith("/portal/login?next=")
    # the cookie is no bearer token for the API
    assert httpx.get(f"{fed.hub_url}/api/nodes", cookies={"oncofed_session": cookie.value}).status_code == 401


def test_sign_in_takes_only_this_hubs_form_and_a_valid_token(fed):
    stray = httpx.post(f"{fed.hub_url}/portal/login", data={"nonce": "x", "token": fed.token})
    assert stray.status_code == 401 and "expired" in stray.text and "oncofed_session" not in stray.cookies
    client = httpx.Client(base_url=fed.hub_url)
    nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/portal/login").text)[1]
    bad = client.post("/portal/login", data={"nonce": nonce, "token": "not-a-token"})
    assert bad.status_code == 401 and "not accepted" in bad.text
    away = signed_in(fed, "researcher")
    nonce = re.search(r'name="nonce" value="([^"]+)"', away.get("/portal/login").text)[1]
    sent = away.post("/portal/login", data={"nonce": nonce, "token": fed.token, "next": "https://evil.example/"})
    assert sent.headers["location"] == "/portal"  # never onward to another site


def test_a_form_without_the_sessions_csrf_token_or_from_another_site_is_refused(fed):
    client = signed_in(fed, "researcher")
    form = {"dataset": "de/gbsg2", "purpose": "HMB", "text": "x"}
    assert client.post("/portal/access", data=form).status_code == 403
    assert client.post("/portal/access", data=form | {"csrf": "guess"}).status_code == 403
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/portal/access/new").text)[1]
    assert client.post("/portal/access", data=form | {"csrf": csrf},
                       headers={"Origin": "https://evil.example"}).status_code == 403
    assert all(r["purpose"]["text"] != "x" for r in api(fed, "researcher", "GET", "/api/access/requests").json())


def test_only_a_nodes_steward_reads_its_audit_log_direct_or_through_the_relay(fed):
    assert api(fed, "researcher", "GET", "/api/nodes/de/audit").status_code == 403
    assert api(fed, "dac", "GET", "/api/nodes/de/audit").status_code == 403
    assert api(fed, "steward", "GET", "/api/nodes/nowhere/audit").status_code == 403
    asked = api(fed, "researcher", "POST", "/api/analyses", json={"analysis": "count"}, params={"wait": 60})
    assert asked.json()["status"] == "done", asked.text  # an entry at each node, whatever ran before
    for node in ("de", "nl"):  # nl answers over the relay
        got = api(fed, "steward", "GET", f"/api/nodes/{node}/audit", params={"last": 5})
        assert got.status_code == 200, got.text
        assert got.json()["node"] == node and 1 <= len(got.json()["entries"]) <= 5
    logged = api(fed, "steward", "GET", "/api/nodes/nl/audit", params={"last": 1}).json()["entries"]
    assert logged[0]["kind"] == "audit" and logged[0]["requester"].endswith(fed.users["steward"])


def test_a_runs_provenance_downloads_from_the_portal_for_its_requester_only(fed):
    asked = api(fed, "researcher", "POST", "/api/analyses", json={"analysis": "count"}, params={"wait": 60})
    assert asked.json()["status"] == "done", asked.text
    run_id = asked.json()["run"]
    path = f"/portal/analyses/{run_id}/provenance.zip"
    mine = signed_in(fed, "researcher")
    assert f'href="{path}"' in mine.get(f"/portal/analyses/{run_id}").text
    got = mine.get(path)
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip", got.text
    with zipfile.ZipFile(io.BytesIO(got.content)) as crate:
        graph = json.loads(crate.read("ro-crate-metadata.json"))["@graph"]
    assert next(e for e in graph if e["@id"] == "#run")["identifier"] == run_id
    other = signed_in(fed, "dac")  # signed in, but not who ran it
    refused = other.get(path)
    assert refused.status_code == 404 and refused.json() == {"error": "no such run of yours"}
    assert path not in other.get(f"/portal/analyses/{run_id}").text
    assert httpx.get(fed.hub_url + path).status_code == 401  # nobody signed in


def rows(page: str, pattern: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(pattern, page)]


def test_every_page_links_a_json_twin_that_serves_what_it_shows(fed):
    counted = api(fed, "researcher", "POST", "/api/analyses", json={"analysis": "count"}, params={"wait": 60})
    run_id = counted.json()["run"]
    made = api(fed, "researcher", "POST", "/api/access/requests", json={
        "datasets": ["de/ncctg-lung"], "purpose": {"code": "HMB", "text": "Twins of pages"}})
    assert made.status_code == 201, made.text
    request_id = made.json()["id"]
    offered = {"km", "cox", "crosstab", "summary", "count"}
    pages = {  # path: (who, [(what the page shows, what its twin serves)])
        "/portal": ("researcher", lambda page, j: [(f"Signed in as {RESEARCHER}" in page, j["name"] == RESEARCHER)]),
        "/portal/catalogue?q=lung": ("researcher", lambda page, j: [
            (rows(page, r'<a href="/catalogue/([^"]+)">'), [f"{d['node']}/{d['dataset']}" for d in j["datasets"]])]),
        "/catalogue/de/gbsg2": ("researcher", lambda page, j: [(j["title"] in page, True)]),
        "/portal/cohort?dataset=ncctg-lung&v=age&op=%3E%3D&val=60": ("researcher", lambda page, j: [
            (rows(page, r'<tr data-node="([^"]+)">'), [n["node"] for n in j["nodes"]]),
            (rows(page, r'<td class="num count-value">([^<]*)</td>'), [n["shown"] for n in j["nodes"]])]),
        "/portal/analyses/new": ("researcher", lambda page, j: [
            (set(rows(page, r'name="analysis" value="([^"]+)"')), offered), (offered <= {a["name"] for a in j}, True)]),
        f"/portal/analyses/{run_id}": ("researcher", lambda page, j: [
            (f"Run <code>{run_id}</code> · {j['analysis']}@{j['version']}" in page, j["run"] == run_id)]),
        "/portal/access": ("researcher", lambda page, j: [
            (set(rows(page, r'<a href="/portal/access/([0-9a-f-]{36})"')), {r["id"] for r in j})]),
        "/portal/access/new": ("researcher", lambda page, j: [(request_id in {r["id"] for r in j}, True)]),
        f"/portal/access/{request_id}": ("researcher", lambda page, j: [
            (rows(page, r'data-item="([^"]+)"'), [f"{i['node']}/{i['dataset']}" for i in j["items"]])]),
        "/portal/nodes": ("researcher", lambda page, j: [
            (rows(page, r'<th scope="row">[^<]*<small>([^<]+)</small>'), [n["id"] for n in j])]),
        "/portal/audit/de": ("steward", lambda page, j: [  # the twin, asked after the page, may hold newer entries
            (max(map(int, rows(page, r'<tr data-kind="[^"]*"><th scope="row">(\d+)</th>'))) in
             [e["seq"] for e in j["entries"]], True)]),
    }
    clients = {who: signed_in(fed, who) for who in ("researcher", "steward")}
    for path, (who, shows) in pages.items():
        page = clients[who].get(path)
        assert page.status_code == 200, f"{path}: {page.status_code}"
        link = re.search(r'<link rel="alternate" type="application/json" href="([^"]+)">', page.text)
        assert link, f"{path} links no JSON twin"
        twin = api(fed, who, "GET", html.unescape(link[1]))
        assert twin.status_code == 200 and twin.headers["content-type"] == "application/json", f"{path}: {twin.text}"
        for shown, served in shows(page.text, twin.json()):
            assert shown == served, f"{path} shows {shown!r}, its twin {link[1]} serves {served!r}"
    policy = clients["researcher"].get("/portal/catalogue").headers["content-security-policy"]
    assert policy.startswith("default-src 'self'")
