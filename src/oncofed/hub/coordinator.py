"""The central half of every federated analysis: send each round's node step to the nodes,
combine their partials with the hub step, and go round until the analysis is done.

A run is saved after each round with a lease that its process keeps renewing, so when a hub
process dies another one (or the restarted one) adopts the run and carries it on from the
last saved round. A node that drops out after the first round would leave an iterative model
inconsistent, so the run starts again without it, and says so.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from pydantic import BaseModel, ConfigDict, Field

import oncofed
from oncofed.analysis import registry
from oncofed.analysis.base import AnalysisError, Partial
from oncofed.analysis import cohort as cohorts
from oncofed.analysis.cohort import Cohort
from oncofed.auth import envelope
from oncofed.hub.fanout import OK, ask
from oncofed.hub.home import HubHome
from oncofed.hub.store import HubStore, NodeRecord
from oncofed.hub.transports.base import Transport

log = logging.getLogger(__name__)

LEASE_S = 6.0


class RunRequest(BaseModel):
    """What a researcher asks the hub to run."""

    model_config = ConfigDict(extra="forbid")
    analysis: str
    version: str | None = None
    cohort: Cohort = Field(default_factory=Cohort)
    params: dict = Field(default_factory=dict)
    nodes: list[str] | None = None
    timeout_s: float = Field(30.0, gt=0, le=600)


class Coordinator:
    def __init__(self, store: HubStore, hub: HubHome, transports: dict[str, Transport]):
        self.store, self.hub, self.transports = store, hub, transports
        self.owner = uuid.uuid4().hex[:12]
        self.replay = envelope.ReplayCache()
        self._done: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()

    # submitting and waiting --------------------------------------------------------------

    def check(self, request: RunRequest) -> tuple[str, dict, list[NodeRecord]]:
        """The analysis version, checked parameters and the registered nodes, or AnalysisError (a 4xx)."""
        analysis = registry.get(request.analysis, request.version)
        params = analysis.validate(request.params)
        cohorts.check(request.cohort)
        nodes = self.store.nodes()
        known = {n.id for n in nodes}
        unknown = sorted(set(request.nodes or ()) - known)
        if unknown:
            raise AnalysisError(f"unknown node(s) {', '.join(unknown)}; registered: {', '.join(sorted(known))}")
        return analysis.version, params, nodes

    def submit(self, requester: str, token: str, request: RunRequest) -> str:
        version, params, nodes = self.check(request)
        body = request.model_dump(mode="json") | {"version": version, "params": params}
        run_id = self.store.create_run(requester, request.analysis, version, body, token, self.owner, LEASE_S)
        # what _rounds would read back from the store for a new run
        run = {"id": run_id, "request": body, "analysis": request.analysis, "version": version, "token": token,
               "per_node": {}, "state": {}, "round": 0}
        self._start(run_id, (run, nodes))
        return run_id

    async def wait(self, run_id: str, seconds: float) -> None:
        event = self._done.get(run_id)
        if event is not None:
            try:
                await asyncio.wait_for(event.wait(), seconds)
            except TimeoutError:
                pass
            return
        # A run another process drives: watch the store.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            run = await asyncio.to_thread(self.store.run, run_id)
            if run is None or run["status"] != "running":
                return
            await asyncio.sleep(0.05)

    def _start(self, run_id: str, known: tuple[dict, list[NodeRecord]] | None = None) -> None:
        self._done[run_id] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._drive(run_id, known))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def adopt_forever(self) -> None:
        """Take over runs whose process stopped renewing them (a crash, a restart)."""
        while True:
            try:
                for run_id in await asyncio.to_thread(self.store.adopt_runs, self.owner, LEASE_S):
                    log.info("adopting run %s", run_id)
                    self._start(run_id)
            except Exception:  # the database may be briefly away; try again next time
                log.exception("adopting runs failed")
            await asyncio.sleep(LEASE_S / 2)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # driving a run ---------------------------------------------------------------------

    async def _drive(self, run_id: str, known: tuple[dict, list[NodeRecord]] | None = None) -> None:
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(run_id, asyncio.current_task()))
        try:
            await self._rounds(run_id, known)
        except (_LostLease, asyncio.CancelledError):
            log.info("run %s is now driven by another process", run_id)
        except Exception as e:
            log.exception("run %s failed", run_id)
            await self._save(run_id, status="failed", error=f"{type(e).__name__}: {e}")
        finally:
            heartbeat.cancel()
            self._done.pop(run_id, asyncio.Event()).set()

    async def _heartbeat(self, run_id: str, driver: asyncio.Task) -> None:
        """Keep the run's lease while a round waits on slow nodes; stop driving if it is lost."""
        while True:
            await asyncio.sleep(LEASE_S / 3)
            if not await asyncio.to_thread(self.store.save_run, run_id, self.owner, LEASE_S):
                driver.cancel()
                return

    async def _rounds(self, run_id: str, known: tuple[dict, list[NodeRecord]] | None = None) -> None:
        """``known``: the run and the registered nodes, when this process just made the run."""
        if known is None:  # adopted: read it back
            known = await asyncio.to_thread(self.store.run, run_id), await asyncio.to_thread(self.store.nodes)
        run, all_nodes = known
        request = RunRequest.model_validate(run["request"])
        analysis = registry.get(run["analysis"], run["version"])
        params = run["request"]["params"]
        wanted = [n for n in all_nodes if request.nodes is None or n.id in request.nodes]
        per_node: dict = dict(run["per_node"])
        state: dict = run["state"].get("analysis", {})
        round_ = run["round"]
        members = run["state"].get("members")
        participants = [n for n in wanted if members is None or n.id in members]
        while True:
            outcomes = await self._round(run, request, participants, round_, state)
            for node_id, outcome in outcomes.items():
                per_node[node_id] = outcome.public() | {"round": round_}
            ok = [n for n in participants if outcomes[n.id].status == OK]
            if round_ > 0 and len(ok) < len(participants):
                dropped = sorted({n.id for n in participants} - {n.id for n in ok})
                for node_id in dropped:
                    per_node[node_id]["reason"] = (per_node[node_id].get("reason", "") +
                                                   "; dropped out mid-analysis, the run started again without it")
                participants, round_, state = ok, 0, {}
                await self._save(run_id, round=0, state={"members": [n.id for n in ok], "analysis": {}},
                                 per_node=per_node)
                continue
            participants = ok
            if not ok:
                await self._save(run_id, status="failed", per_node=per_node,
                                 error="no node could answer: " + _reasons(per_node))
                return
            need = max(int(outcomes[n.id].body.get("min_nodes", 1)) for n in ok)
            if len(ok) < need:
                await self._save(run_id, status="failed", per_node=per_node,
                                 error=f"a node requires at least {need} nodes in an analysis; {len(ok)} answered")
                return
            partials = {n.id: Partial.from_json(outcomes[n.id].body["partial"]) for n in ok}
            try:
                step = analysis.hub_step(partials, params, state)
            except AnalysisError as e:
                await self._save(run_id, status="failed", per_node=per_node, error=str(e))
                return
            if step.done:  # the hub's oncofed version goes into the run's provenance
                await self._save(run_id, status="done", per_node=per_node, result=step.result, round=round_,
                                 state={"members": [n.id for n in ok], "analysis": state,
                                        "oncofed": oncofed.__version__})
                return
            state, round_ = step.state, round_ + 1
            await self._save(run_id, round=round_, per_node=per_node,
                             state={"members": [n.id for n in ok], "analysis": state})

    async def _round(self, run: dict, request: RunRequest, nodes: list[NodeRecord], round_: int,
                     state: dict):
        body = {
            "kind": "analysis", "run": run["id"], "round": round_, "token": run["token"],
            "analysis": run["analysis"], "version": run["version"],
            "cohort": request.cohort.model_dump(mode="json"), "params": run["request"]["params"], "state": state,
        }
        outcomes = await ask(nodes, body, hub=self.hub, transports=self.transports, replay=self.replay,
                             timeout=request.timeout_s)
        for node in nodes:
            if outcomes[node.id].status in (OK, "refused"):
                await asyncio.to_thread(self.store.seen, node.id, (outcomes[node.id].body or {}).get("audit"))
            else:
                await asyncio.to_thread(self.store.failed, node.id, outcomes[node.id].reason or "")
        return outcomes

    async def _save(self, run_id: str, **values) -> None:
        if not await asyncio.to_thread(self.store.save_run, run_id, self.owner, LEASE_S, **values):
            raise _LostLease


class _LostLease(Exception):
    pass


def _reasons(per_node: dict) -> str:
    return "; ".join(f"{n}: {p['status']}" + (f" ({p['reason']})" if p.get("reason") else "")
                     for n, p in sorted(per_node.items()))
