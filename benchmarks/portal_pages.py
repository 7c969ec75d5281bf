"""Render time of each portal page in a real browser (Debian's Chromium through Playwright), on
a demo-like federation: the hub and three nodes laid out as data/demo.yaml (direct DE and FR,
NL behind the relay), holding the real demo cohorts and the HCC1187 variant calls. Goal: every
page ≤ 1 s (p95), from navigation to the load event (the page, its stylesheet, script and any
figure, as a person waits for it).

Each page is loaded ``--loads`` times in a signed-in browser; the cohort builder counts its
cohort at every node on each load (a federated count, as a person sees it), and an analysis
page draws its figure the first time it is shown (the hub keeps it after that).

    python benchmarks/portal_pages.py [--loads 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import timedelta
from pathlib import Path

import httpx

from oncofed.auth import tokens
from oncofed.hub.identity import Identities
from oncofed.hub.store import HubStore
from oncofed.testing import LocalFederation

DATA = Path(__file__).resolve().parents[1] / "data"
CHROMIUM = "/usr/bin/chromium"
GOAL_S = 1.0
LUNG = DATA / "ncctg-lung/lung.csv", DATA / "ncctg-lung/mapping.yaml"


def federation(lf: LocalFederation) -> None:
    lf.add_node("demo-de", country="DE") \
        .add_dataset("gbsg2", DATA / "gbsg2/gbsg2.csv", mapping=DATA / "gbsg2/mapping.yaml") \
        .add_dataset("ncctg-lung", LUNG[0], mapping=LUNG[1], where="TRY_CAST(inst AS DOUBLE) <= 7")
    lf.add_node("demo-nl", country="NL", transport="relay") \
        .add_dataset("rotterdam", DATA / "rotterdam/rotterdam.csv", mapping=DATA / "rotterdam/mapping.yaml") \
        .add_dataset("ncctg-lung", LUNG[0], mapping=LUNG[1], where="TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13") \
        .add_dataset("hcc1187", DATA / "vcf/chr7-sub.vcf.gz", format="vcf", samples=DATA / "vcf/hcc1187-samples.tsv")
    lf.add_node("demo-fr", country="FR") \
        .add_dataset("colon", DATA / "colon/colon.csv", mapping=DATA / "colon/mapping.yaml") \
        .add_dataset("ncctg-lung", LUNG[0], mapping=LUNG[1], where="inst IS NULL OR TRY_CAST(inst AS DOUBLE) >= 15")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.loads} loads per page")
    with LocalFederation() as lf:
        federation(lf)
        started = time.perf_counter()
        lf.start()
        print(f"federation up in {time.perf_counter() - started:.1f} s")
        store = HubStore(lf.hub.config.db)
        try:
            steward, dac = store.add_user("Sam Steward"), store.add_user("Dana DAC")
            Identities(store).grant(steward, "steward", "demo-de")
            Identities(store).grant(dac, "dac", "demo-de/ncctg-lung")
        finally:
            store.dispose()
        token = {"researcher": lf.token, **{who: tokens.issue(lf.hub.private_key, lf.hub.config.id, user,
                                                                 timedelta(hours=2))
                                            for who, user in (("steward", steward), ("dac", dac))}}
        hub = httpx.Client(base_url=lf.hub_url, timeout=120, headers={"Authorization": f"Bearer {lf.token}"})
        hub.post("/api/catalogue/harvest", json={}).raise_for_status()
        runs = {name: hub.post("/api/analyses", params={"wait": 120}, json=body).json()["run"] for name, body in {
            "km": {"analysis": "km", "cohort": {"datasets": ["ncctg-lung"]}, "params": {"group": "sex"}},
            "cox": {"analysis": "cox", "cohort": {"datasets": ["gbsg2", "rotterdam"]},
                    "params": {"covariates": ["age", "grade"]}},
            "crosstab": {"analysis": "crosstab", "cohort": {}, "params": {"row": "sex", "column": "vital_status"}},
        }.items()}
        made = hub.post("/api/access/requests", json={"datasets": ["demo-de/ncctg-lung"], "purpose": {
            "code": "HMB", "text": "Survival in advanced lung cancer"}}).json()["id"]
        pages = {
            "researcher": [("home", "/portal"), ("catalogue", "/portal/catalogue?q=breast"),
                           ("catalogue, two facets", "/portal/catalogue?cancer=NCIT:C4872&country=NL"),
                           ("dataset", "/catalogue/demo-de/gbsg2"),
                           ("cohort builder (count at 3 nodes)", "/portal/cohort?dataset=ncctg-lung&v=age&op=%3E%3D&val=60"),
                           ("cohort builder + variant (Beacon)", "/portal/cohort?dataset=hcc1187&gene=EGFR"),
                           ("new analysis", "/portal/analyses/new?dataset=ncctg-lung"),
                           ("Kaplan–Meier result", f"/portal/analyses/{runs['km']}"),
                           ("Cox result", f"/portal/analyses/{runs['cox']}"),
                           ("crosstab result", f"/portal/analyses/{runs['crosstab']}"),
                           ("access requests", "/portal/access"), ("nodes", "/portal/nodes")],
            "dac": [("DAC review", f"/portal/access/{made}")],
            "steward": [("audit log (steward)", "/portal/audit/demo-de")],
        }
        rows = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for who, listed in pages.items():
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.goto(f"{lf.hub_url}/portal/login")
                page.get_by_label("Token").fill(token[who])
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{lf.hub_url}/portal")
                for name, path in listed:
                    times = []
                    for _ in range(args.loads):
                        t = time.perf_counter()
                        response = page.goto(lf.hub_url + path, wait_until="load")
                        times.append(time.perf_counter() - t)
                        assert response.ok, (path, response.status)
                    rows.append((name, times[0], *percentiles(times)))
            browser.close()
    print(f"\n| page | first load | p50 | p95 | goal p95 ≤ {GOAL_S:g} s |\n|---|---|---|---|---|")
    for name, first, p50, p95 in rows:
        print(f"| {name} | {first * 1000:.0f} ms | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | "
              f"{'met' if p95 <= GOAL_S else 'NOT met'} |")


if __name__ == "__main__":
    main()
