"""The demo federation, built from the real public cohorts in the repository's data/ folder as
`data/demo.yaml` lays them out: ``build`` makes the node folders only (the tests' fixtures);
``start`` serves them as a live federation on this machine — a hub and one process per node
(``oncofed.testing.LocalFederation``), the catalogue harvested, demo logins made — and
``smoke`` runs a researcher's scripted session against it.

A running demo leaves ``demo.json`` in its folder (the hub's URL, the logins, the process ids),
so a notebook on the same machine finds it: ``Federation.connect_demo()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict

from oncofed.errors import OncofedError
from oncofed.ingest.pipeline import ingest
from oncofed.node import home
from oncofed.node.home import NodeHome
from oncofed.store.store import WriteResult

if TYPE_CHECKING:  # imported by start() only: building the nodes needs none of the hub
    from oncofed.testing import LocalFederation

DATA = Path(__file__).resolve().parents[2] / "data"
STATE, DIR_ENV, DEFAULT_DIR = "demo.json", "ONCOFED_DEMO_DIR", ".demo"
LOGIN_DAYS = 7
MIN_TIME_POINTS = 10  # a smoke Kaplan–Meier curve with fewer is too coarse to read


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DemoIngest(_Strict):
    format: str
    files: list[str]
    mapping: str | None = None
    where: str | None = None
    samples: str | None = None  # vcf: the sample sheet


class DemoDataset(_Strict):
    id: str
    title: str
    description: str
    licence: str | None = None
    duo: list[str] = []
    ingest: list[DemoIngest]


class DemoNode(_Strict):
    name: str
    country: str
    transport: str = "direct"
    datasets: list[DemoDataset]


class DemoPlan(_Strict):
    nodes: list[DemoNode]


class DemoError(OncofedError):
    pass


def plan(data: Path) -> DemoPlan:
    return DemoPlan.model_validate(yaml.safe_load((data / "demo.yaml").read_text()))


def _options(step: DemoIngest, data: Path) -> dict:
    return {"mapping": data / step.mapping if step.mapping else None, "where": step.where,
            "samples": data / step.samples if step.samples else None}


def build(folder: Path, data: Path = DATA) -> list[NodeHome]:
    """(Re)create every demo node under ``folder`` and ingest its datasets (no processes)."""
    if folder.exists():
        shutil.rmtree(folder)
    nodes = []
    for n in plan(data).nodes:
        h = home.init(folder / n.name, n.name, n.country)
        with h.store() as store:
            for d in n.datasets:
                store.add_dataset(d.id, d.title, description=d.description, licence=d.licence, duo=d.duo)
        for d in n.datasets:
            for step in d.ingest:
                ingest(h, d.id, step.format, [data / f for f in step.files], **_options(step, data))
        nodes.append(h)
    return nodes


def holdings(homes: list[NodeHome]) -> list[dict]:
    """What each node holds, from its store: one row per dataset."""
    rows = []
    for h in homes:
        with h.store(read_only=True) as store:
            for d in store.datasets():
                result = WriteResult(d.id, d.version, False, d.content_hash, store.counts(d.id))
                rows.append(_holding(h.config.name, h.config.country, None, d.title, result))
    return rows


def _holding(node: str, country: str, transport: str | None, title: str, result: WriteResult) -> dict:
    return {"node": node, "country": country, "transport": transport, "dataset": result.dataset_id, "title": title,
            "individuals": result.counts["individuals"], "records": sum(result.counts.values()),
            "version": result.version, "content_hash": result.content_hash}


# the live federation ------------------------------------------------------------------------


@dataclass
class Login:
    role: str  # researcher | dac | steward
    user: str
    name: str
    token: str
    scope: str | None = None  # dac: node/dataset; steward: node


@dataclass
class Demo:
    folder: Path
    layout: DemoPlan
    federation: LocalFederation  # started
    logins: dict[str, Login]

    @property
    def hub_url(self) -> str:
        return self.federation.hub_url

    def holdings(self) -> list[dict]:
        """What each node holds, as its ingest left it (a running node holds its store's lock)."""
        return [_holding(name, node.country, node.transport, next(d.title for d in node.datasets if d.id == ds), result)
                for name, node in self.federation.nodes.items() for ds, result in node.ingested.items()]

    def alive(self) -> str | None:
        """None while the hub and every node run; else which process ended."""
        lf = self.federation
        if lf.hub_process.poll() is not None:
            return f"the hub exited ({lf.hub_process.returncode}); its log: {lf.workdir / 'hub.log'}"
        for name, node in lf.nodes.items():
            if node.process.poll() is not None:
                return f"node {name} exited ({node.process.returncode}); its log: {lf.workdir / f'node-{name}.log'}"
        return None

    def stop(self) -> None:
        """End every process the demo started; a second Ctrl-C or SIGTERM cannot cut this short."""
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            self.federation.stop()
            (self.folder / STATE).unlink(missing_ok=True)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


@contextlib.contextmanager
def interruptible():
    """Inside, SIGTERM and SIGHUP end the demo as Ctrl-C does: as a KeyboardInterrupt, so the
    code that started processes stops them on its way out."""

    def stop_now(signum, frame):
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, stop_now) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def start(folder: Path, data: Path = DATA, port: int | None = None) -> Demo:
    """Build the demo nodes in ``folder`` (recreated) and serve them: a hub (on ``port``, else a
    free one) and a process per node, direct or relay as demo.yaml says; harvest the catalogue;
    make a researcher, a DAC member of the first dataset and a steward of its node."""
    from oncofed.testing import LocalFederation

    folder = Path(folder).resolve()
    _refuse_running(folder)
    if port:
        _check_port(port)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    layout = plan(data)
    lf = LocalFederation(folder, hub_port=port)
    for n in layout.nodes:
        node = lf.add_node(n.name, country=n.country, transport=n.transport)
        for d in n.datasets:
            for step in d.ingest:
                for f in step.files:
                    node.add_dataset(d.id, data / f, format=step.format, title=d.title, description=d.description,
                                     licence=d.licence, duo=d.duo, **_options(step, data))
    try:
        lf.start()
        harvest = lf.federation.harvest()
        missed = {n: s.get("reason") for n, s in harvest.items() if s.get("status") != "ok"}
        if missed:
            raise DemoError(f"the catalogue harvest missed {missed}")
        first = layout.nodes[0]
        logins = _logins(lf, dac=f"{first.name}/{first.datasets[0].id}", steward=first.name)
    except BaseException:
        Demo(folder, layout, lf, {}).stop()
        raise
    demo = Demo(folder, layout, lf, logins)
    _write_state(demo)
    return demo


def serve(demo: Demo) -> str | None:
    """Wait until Ctrl-C (or, inside ``interruptible``, SIGTERM or SIGHUP), or until a process of
    the demo ends by itself: then what ended. The caller stops the demo."""
    try:
        while (problem := demo.alive()) is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        return None
    return problem


def running(folder: str | os.PathLike | None = None) -> dict:
    """The state a running demo left (hub_url, logins, pids); DemoError if none is running."""
    path = _state_path(folder)
    if path is None:
        where = folder or os.environ.get(DIR_ENV) or f"{DEFAULT_DIR} (here or in a parent folder)"
        raise DemoError(f"no running demo found in {where}: start one with `oncofed demo`")
    state = json.loads(path.read_text())
    if not _alive(state.get("pid")):
        raise DemoError(f"the demo in {path.parent} is not running any more: start it with `oncofed demo`")
    return state


def _state_path(folder: str | os.PathLike | None) -> Path | None:
    if folder is not None or os.environ.get(DIR_ENV):
        path = Path(folder or os.environ[DIR_ENV]) / STATE
        return path if path.is_file() else None
    here = Path.cwd().resolve()
    for parent in (here, *here.parents):
        if (parent / DEFAULT_DIR / STATE).is_file():
            return parent / DEFAULT_DIR / STATE
    return None


def _refuse_running(folder: Path) -> None:
    path = folder / STATE
    if path.is_file():
        try:
            pid = json.loads(path.read_text()).get("pid")
        except ValueError:
            return
        if _alive(pid) and pid != os.getpid():
            raise DemoError(f"a demo is running in {folder} (process {pid}): stop it, or give another --dir")


def _check_port(port: int) -> None:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(f"port {port} is in use (another demo, or a hub?): give another --port, "
                            "or 0 for any free one") from None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _logins(lf, *, dac: str, steward: str) -> dict[str, Login]:
    from oncofed.auth import tokens
    from oncofed.hub.identity import Identities
    from oncofed.hub.store import HubStore

    wanted = [Login("researcher", "", "Demo Researcher", ""),
              Login("dac", "", f"Demo DAC member ({dac})", "", dac),
              Login("steward", "", f"Demo steward ({steward})", "", steward)]
    store = HubStore(lf.hub.config.db)
    try:
        roles = Identities(store)
        for login in wanted:
            login.user = store.add_user(login.name)
            if login.role != "researcher":
                roles.grant(login.user, login.role, login.scope)
            login.token = tokens.issue(lf.hub.private_key, lf.hub.config.id, login.user, timedelta(days=LOGIN_DAYS))
    finally:
        store.dispose()
    return {login.role: login for login in wanted}


def _write_state(demo: Demo) -> None:
    lf = demo.federation
    state = {"hub_url": demo.hub_url, "pid": os.getpid(), "folder": str(demo.folder),
             "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "logins": {r: {"user": x.user, "name": x.name, "token": x.token, "scope": x.scope}
                        for r, x in demo.logins.items()},
             "processes": {"hub": lf.hub_process.pid, **{n: x.process.pid for n, x in lf.nodes.items()}}}
    path = demo.folder / STATE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds login tokens
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=1)


# the smoke scenario ----------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    ok: bool
    said: str  # what the step found, or why it failed
    seconds: float


def smoke(demo: Demo, say: Callable[[Step], None] = lambda step: None) -> list[Step]:
    """A researcher's session through the SDK: search the catalogue, count, Kaplan–Meier, Cox, a
    Beacon query, an access request the DAC approves, a run's provenance. Each step passes when
    its answer is of the expected kind (not a particular number)."""
    from oncofed.client.federation import Federation

    steps: list[Step] = []
    researcher = Federation(demo.hub_url, demo.logins["researcher"].token)
    dac = Federation(demo.hub_url, demo.logins["dac"].token)
    nodes = sorted(demo.federation.nodes)
    context: dict = {}

    def step(name: str, check: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            ok, said = True, check()
        except Exception as e:  # a failed step is reported, and the next one still runs
            ok, said = False, f"{type(e).__name__}: {e}"
        steps.append(Step(name, ok, said, time.perf_counter() - started))
        say(steps[-1])

    def expect(condition: bool, why: str) -> None:
        if not condition:
            raise AssertionError(why)

    def all_ok(result, dataset: str | None = None) -> None:
        """Every node answered; given a dataset, every node holding it did (the others say they hold none)."""
        holding = sorted(n.name for n in demo.layout.nodes if dataset is None or dataset in {d.id for d in n.datasets})
        statuses = result.per_node["status"].to_dict()
        answered = sorted(node for node, status in statuses.items() if status == "ok")
        expect(sorted(statuses) == nodes and answered == holding, f"nodes answered {statuses}")

    def search() -> str:
        found = researcher.datasets("breast")
        expect({f"{n.name}/{d.id}" for n in demo.layout.nodes for d in n.datasets
                if "breast" in (d.title + d.description).lower()} <= set(found.index),
               f"'breast' found {list(found.index)}")
        return f"'breast' finds {found.attrs['total']} datasets: {', '.join(found.index)}"

    def count() -> str:
        result = researcher.count()
        all_ok(result)
        expect(isinstance(result.count, int) and result.count > 0, f"count {result.count!r}")
        return f"{result.count:,} individuals on {len(nodes)} nodes"

    def km() -> str:
        # Rotterdam's 2,982 women: the nodes' guards release a curve of this size on a fine grid
        # (the lung trial, split thinly across three nodes, comes out as a step or two)
        result = researcher.km("os_days", "os_event", group="grade", datasets=["rotterdam"])
        all_ok(result, "rotterdam")
        s = result.summary
        points = s[s["timeline"] > 0].groupby("group").size()
        expect(len(points) == 2 and s["survival"].between(0, 1).all(), f"survival table {s.shape}")
        expect(points.min() >= MIN_TIME_POINTS, f"curves of {points.to_dict()} time points")
        context["km"] = result
        return (f"{points.min()}+ time points in each of {len(points)} curves (grade), "
                f"survival {s['survival'].min():.2f}–1")

    def cox() -> str:
        result = researcher.cox("os_days", "os_event", ["age", "sex"], datasets=["ncctg-lung"])
        all_ok(result)
        s = result.summary
        expect({"coef", "se(coef)", "p"} <= set(s.columns) and len(s) == 2 and s["coef"].notna().all(),
               f"summary {list(s.columns)} × {len(s)}")
        context["cox"] = result
        return "hazard ratios " + ", ".join(f"{k} {v:.2f}" for k, v in s["exp(coef)"].items())

    def beacon() -> str:
        answer = researcher.beacon("g_variants", geneId="EGFR")
        summary = answer.get("responseSummary", {})
        expect(summary.get("exists") is True, f"responseSummary {summary}")
        held = summary.get("numTotalResults")
        return "EGFR variants exist" + (f": {held:,}" if isinstance(held, int) else " (count withheld)")

    def access() -> str:
        dataset = demo.logins["dac"].scope
        request = researcher.request_access([dataset], "HMB", "Smoke test: recurrence-free survival by grade.")
        item = request["items"][0]
        seen = [r["id"] for r in dac.access_requests()]
        expect(request["id"] in seen, f"the DAC member does not see request {request['id']}")
        decided = dac.decide(item["id"], "approve", days=30)
        state = decided["items"][0]["state"]
        expect(state == "approved", f"state after approval: {state}")
        return f"request {request['id']} for {dataset}: {item['state']} → {state} by the DAC"

    def provenance() -> str:
        import tempfile

        from rocrate.rocrate import ROCrate

        result = context.get("cox")
        expect(result is not None, "no Cox run to describe")
        with tempfile.TemporaryDirectory() as tmp:
            crate = ROCrate(result.provenance.save(Path(tmp) / "crate"))
            versions = [e for e in crate.get_by_type("Dataset") if e.id.startswith("#dataset-")]
            expect(len(versions) == len(nodes), f"{len(versions)} dataset versions named")
        return f"RO-Crate of run {result.run_id} names {len(versions)} dataset versions"

    try:
        for name, check in [("catalogue search", search), ("count", count), ("Kaplan–Meier", km), ("Cox", cox),
                            ("Beacon query", beacon), ("access request", access), ("provenance", provenance)]:
            step(name, check)
    finally:
        researcher.close()
        dac.close()
    return steps
