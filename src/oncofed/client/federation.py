"""The researcher's SDK: one object for the whole federation, analyses named as a
statistician knows them, results that compare side by side with lifelines and statsmodels.

    fed = Federation("https://hub.example.org", token)
    fed.count(datasets=["colon"], where=["stage descendant_of NCIT:C28060", "age < 70"]).count
    fed.cox("os_days", "os_event", ["age", "sex"], datasets=["colon"]).summary
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import httpx

from oncofed import tls, web
from oncofed.client.results import Rerun, Result, result_for
from oncofed.errors import OncofedError

Filter = tuple[str, str, object]
CATALOGUE_COLUMNS = ["id", "node", "dataset", "title", "individuals", "cancer_types", "data_types", "countries",
                     "access", "duo", "stale", "stale_since"]


class FederationError(OncofedError):
    """The hub refused or failed a request; the message says why."""

    def __init__(self, message: str, status: int | None = None, raw: dict | None = None):
        self.status, self.raw = status, raw
        super().__init__(message)


def cohort(datasets: Sequence[str] | None = None, where: Iterable[str | Filter | dict] = ()) -> dict:
    """A cohort definition: the datasets to look in and the filters individuals must pass,
    each written as text ('age < 50'), a (variable, op, value) tuple or the API's dict."""
    filters = []
    for f in where:
        if isinstance(f, str):
            f = parse_filter(f)
        filters.append(f if isinstance(f, dict) else {"variable": f[0], "op": f[1], "value": f[2]})
    return {"datasets": list(datasets) if datasets is not None else None, "filters": filters}


def parse_filter(text: str) -> Filter:
    """'age < 50' → ('age', '<', 50); values of in/not_in are comma-separated."""
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise OncofedError(f"bad filter {text!r}: expected 'variable op value', e.g. 'age < 50'")
    variable, op = parts[0], parts[1]
    raw = parts[2] if len(parts) > 2 else None
    if op in ("in", "not_in"):
        return variable, op, [_scalar(v.strip()) for v in (raw or "").split(",") if v.strip()]
    return variable, op, None if raw is None else _scalar(raw)


def _scalar(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class Federation:
    def __init__(self, hub_url: str, token: str | None, *, timeout: float = 120.0,
                 ca: str | os.PathLike | None = None):
        """``token`` may be None for what is public (the catalogue). An https hub's certificate
        is always verified, against the public roots plus ``ca`` (default: the file named by
        ``ONCOFED_CA_BUNDLE``), a PEM file with the certificate of the federation's private CA."""
        self.hub_url = hub_url.rstrip("/")
        self._client = web.client(ca, base_url=self.hub_url, timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"} if token else {})
        self.timeout = timeout

    @classmethod
    def connect_demo(cls, folder: str | os.PathLike | None = None, *, role: str = "researcher",
                     timeout: float = 120.0) -> Federation:
        """Connect to a running ``oncofed demo`` as its demo researcher (or ``role`` "dac" or
        "steward"): it leaves the hub's address and logins in ``demo.json`` in its folder, found
        here from ``folder``, else ``ONCOFED_DEMO_DIR``, else ``.demo`` in this folder or a parent."""
        from oncofed import demo

        try:
            state = demo.running(folder)
        except demo.DemoError as e:
            raise FederationError(str(e)) from None
        if role not in state["logins"]:
            raise FederationError(f"the demo has no {role!r} login; it has {', '.join(state['logins'])}")
        return cls(state["hub_url"], state["logins"][role]["token"], timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # what is there -------------------------------------------------------------------------

    def nodes(self):
        import pandas as pd

        return pd.DataFrame(self._get("/api/nodes"))

    def analyses(self):
        import pandas as pd

        return pd.DataFrame(self._get("/api/analyses"))

    def datasets(self, q: str | None = None, *, cancer: Sequence[str] = (), data_type: Sequence[str] = (),
                 country: Sequence[str] = (), access: Sequence[str] = (), purpose: str | None = None,
                 purpose_disease: Sequence[str] = (), commercial: bool = False,
                 min_individuals: int | None = None, max_individuals: int | None = None,
                 page: int = 1, per_page: int = 20):
        """Search the federation's catalogue: one page of datasets as a DataFrame indexed by id;
        ``.attrs`` holds ``total``, ``page``, ``per_page`` and the ``facets`` with their counts."""
        import pandas as pd

        params = {"q": q, "cancer": list(cancer), "data_type": list(data_type), "country": list(country),
                  "access": list(access), "purpose": purpose, "purpose_disease": list(purpose_disease),
                  "commercial": commercial or None, "min_individuals": min_individuals,
                  "max_individuals": max_individuals, "page": page, "per_page": per_page}
        found = self._request("GET", "/api/catalogue/datasets",
                              params={k: v for k, v in params.items() if v not in (None, [])})
        df = pd.DataFrame(found["datasets"], columns=CATALOGUE_COLUMNS if not found["datasets"] else None)
        df = df.set_index("id")
        df.attrs.update({k: found[k] for k in ("total", "page", "per_page", "facets")})
        return df

    # analyses ------------------------------------------------------------------------------

    def count(self, *, datasets=None, where=(), nodes=None) -> Result:
        return self.run("count", {}, datasets=datasets, where=where, nodes=nodes)

    def crosstab(self, row: str, column: str, *, datasets=None, where=(), nodes=None) -> Result:
        return self.run("crosstab", {"row": row, "column": column}, datasets=datasets, where=where, nodes=nodes)

    def summary(self, variable: str, *, bins: int = 20, datasets=None, where=(), nodes=None) -> Result:
        return self.run("summary", {"variable": variable, "bins": bins}, datasets=datasets, where=where, nodes=nodes)

    def km(self, duration: str = "os_days", event: str = "os_event", *, group: str | None = None,
           interval: float = 30.0, datasets=None, where=(), nodes=None) -> Result:
        params = {"duration": duration, "event": event, "interval": interval}
        if group is not None:
            params["group"] = group
        return self.run("km", params, datasets=datasets, where=where, nodes=nodes)

    def cox(self, duration: str, event: str, covariates: Sequence[str], *, ties: str = "efron",
            datasets=None, where=(), nodes=None) -> Result:
        params = {"duration": duration, "event": event, "covariates": list(covariates), "ties": ties}
        return self.run("cox", params, datasets=datasets, where=where, nodes=nodes)

    def glm(self, outcome: str, covariates: Sequence[str], *, family: str = "gaussian", offset: str | None = None,
            datasets=None, where=(), nodes=None) -> Result:
        params = {"outcome": outcome, "covariates": list(covariates), "family": family}
        if offset is not None:
            params["offset"] = offset
        return self.run("glm", params, datasets=datasets, where=where, nodes=nodes)

    def run(self, analysis: str, params: dict, *, datasets=None, where=(), nodes=None,
            version: str | None = None, progress: Callable[[dict], None] | None = None) -> Result:
        """Run any registered analysis and wait for its result. ``progress`` is called with the
        run's state (status, each node's part so far) every half second while it runs."""
        body = {"analysis": analysis, "params": params, "cohort": cohort(datasets, where)}
        if version:
            body["version"] = version
        if nodes is not None:
            body["nodes"] = list(nodes)
        deadline = time.monotonic() + self.timeout
        wait, every = (min(self.timeout, 60), 10) if progress is None else (0.5, 0.5)
        raw = self._request("POST", "/api/analyses", json=body, params={"wait": wait})
        while raw["status"] == "running":
            if progress is not None:
                progress(raw)
            if time.monotonic() > deadline:
                raise FederationError(f"run {raw['run']} did not finish within {self.timeout:g} s", raw=raw)
            raw = self._request("GET", f"/api/analyses/{raw['run']}", params={"wait": every})
        if progress is not None:
            progress(raw)
        if raw["status"] != "done":
            raise FederationError(f"{analysis}: {raw.get('error') or raw['status']}", raw=raw)
        return result_for(analysis)(raw, provenance=self.provenance)

    def provenance(self, run_id: str) -> bytes:
        """A completed run's RO-Crate, zipped (see ``Result.provenance``)."""
        response = self._send("GET", f"/api/analyses/{run_id}/provenance")
        if response.status_code != 200:
            raise FederationError(f"provenance of run {run_id}: HTTP {response.status_code}: "
                                  f"{_message(response)}", response.status_code)
        return response.content

    def rerun(self, crate: str | os.PathLike, *, progress: Callable[[dict], None] | None = None) -> Rerun:
        """Run a recorded run again — the same analysis and version, cohort, parameters and
        nodes — and compare: is the result identical, and which dataset versions changed?"""
        from oncofed.hub import provenance

        recorded = provenance.read(Path(crate))
        result = self.run(recorded.analysis, recorded.params, datasets=recorded.cohort.get("datasets"),
                          where=recorded.cohort.get("filters") or (), nodes=recorded.nodes, version=recorded.version,
                          progress=progress)
        now = {n: p.get("datasets") or {} for n, p in result.raw["per_node"].items() if p.get("status") == "ok"}
        return Rerun(recorded, result, provenance.dataset_changes(recorded.datasets, now),
                     provenance.result_differences(recorded.result, result.result))

    # discovery and access ----------------------------------------------------------------

    def beacon(self, entry: str = "individuals", **params) -> dict:
        """A Beacon v2 query over the federation (``GET /api/<entry>``), e.g.
        ``fed.beacon("g_variants", geneId="EGFR")``: the merged Beacon response, each node's
        status in ``info.nodes``."""
        return self._request("GET", f"/api/{entry.strip('/')}", params=params)

    def request_access(self, datasets: Sequence[str], purpose: str, text: str, *,
                       diseases: Sequence[str] = (), commercial: bool = False, methods: bool = False,
                       genetic: bool = False) -> dict:
        """Ask the datasets' access committees for record-level access (``node/dataset`` each);
        the request with each dataset's state."""
        body = {"datasets": list(datasets), "purpose": {"code": purpose, "diseases": list(diseases),
                                                        "commercial": commercial, "methods": methods,
                                                        "genetic": genetic, "text": text}}
        return self._request("POST", "/api/access/requests", json=body)

    def access_requests(self, *, mine: bool = False, state: str | None = None) -> list[dict]:
        """Your requests, and those you decide on (DAC), watch (steward) or oversee (admin)."""
        params = {"mine": str(mine).lower()} | ({"state": state} if state else {})
        return self._request("GET", "/api/access/requests", params=params)

    def decide(self, item: str, action: str, *, note: str | None = None, days: int = 365) -> dict:
        """One step on one dataset of a request: a DAC member approves, rejects or asks; the
        requester answers or withdraws. The whole request as it now stands."""
        return self._request("POST", f"/api/access/items/{item}/decisions",
                             json={"action": action, "note": note, "days": days})

    def harvest(self, nodes: Sequence[str] | None = None) -> dict:
        """Harvest the nodes' catalogues now (the hub also does on a schedule); per node: ok, or why not."""
        return self._request("POST", "/api/catalogue/harvest", json={"nodes": list(nodes) if nodes else None})["nodes"]

    # HTTP ------------------------------------------------------------------------------------

    def _get(self, path: str):
        return self._request("GET", path)

    def _request(self, method: str, path: str, **kw) -> dict:
        response = self._send(method, path, **kw)
        try:
            data = response.json()
        except ValueError:
            raise FederationError(f"HTTP {response.status_code} from the hub: {response.text[:300]}",
                                  response.status_code) from None
        if response.status_code >= 400 and not (isinstance(data, dict) and "run" in data):
            raise FederationError(f"HTTP {response.status_code}: {_message(response)}", response.status_code)
        return data

    def _send(self, method: str, path: str, **kw) -> httpx.Response:
        for attempt in range(5):  # the hub may be restarting: runs survive it, so retry briefly
            try:
                response = self._client.request(method, path, **kw)
                break
            except httpx.TransportError as e:
                if (problem := tls.failure(e, "the hub")) is not None:  # retrying will not mend it
                    raise FederationError(f"cannot reach the hub at {self.hub_url}: {problem}") from None
                if attempt == 4:
                    plain = isinstance(e, httpx.RemoteProtocolError) and self.hub_url.startswith("http://")
                    hint = " (if the hub serves HTTPS, its URL starts with https://)" if plain else ""
                    raise FederationError(f"cannot reach the hub at {self.hub_url}: {e}{hint}") from None
                time.sleep(0.5 * 2 ** attempt)
        return response


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    return (data.get("error") or data.get("detail")) if isinstance(data, dict) else str(data)
