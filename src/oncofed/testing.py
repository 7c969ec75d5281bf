"""A real federation on localhost from a few lines of Python: a hub and N node processes on
free ports, each loaded with data, and a connected ``Federation`` for a fresh researcher.

    from oncofed.testing import LocalFederation

    with LocalFederation() as lf:
        lf.add_node("a", country="DE").add_dataset("lung", "data/ncctg-lung/lung.csv",
                                                   mapping="data/ncctg-lung/mapping.yaml")
        lf.add_node("b", country="NL", transport="relay").add_dataset("lung", my_dataframe, mapping=...)
        fed = lf.start()
        print(fed.count(datasets=["lung"]).count)

Everything runs as real processes over real HTTP, exactly as in production; ``stop()`` (or
leaving the ``with`` block) ends them all. Tests use ``kill_node``, ``restart_hub`` and friends
to inject faults. ``LocalFederation(tls=True)`` runs it all over HTTPS: a private CA made on the
spot (``oncofed.testing_tls``) signs the hub's and each direct node's certificate, and the hub,
the relay agents and the ``Federation`` trust it (``lf.ca_file``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd

from oncofed import tls, web
from oncofed.auth import tokens
from oncofed.client.federation import Federation
from oncofed.hub import home as hub_home
from oncofed.hub import identity
from oncofed.hub.store import HubStore
from oncofed.ingest.pipeline import ingest
from oncofed.node import home as node_home
from oncofed.testing_tls import CertificateAuthority

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Dataset:
    id: str
    data: pd.DataFrame | Path
    mapping: Path | None
    format: str
    where: str | None
    title: str
    options: dict  # the other options of ``ingest.pipeline.ingest`` (samples, assembly, …)
    about: dict  # description, licence, duo: how the dataset is registered


@dataclass
class LocalNode:
    name: str
    country: str
    transport: str
    guard: dict
    analyses: list[str] | None
    datasets: list[_Dataset] = field(default_factory=list)
    home: node_home.NodeHome | None = None
    port: int | None = None
    process: subprocess.Popen | None = None
    certificate: tuple[Path, Path] | None = None  # (cert, key) it serves with, if not one from the federation's CA
    url: str | None = None  # a direct node's, once started
    ingested: dict = field(default_factory=dict)  # dataset → the last ingest's WriteResult (version, hash, counts)

    def add_dataset(self, dataset_id: str, data: pd.DataFrame | str | Path, *, mapping: str | Path | None = None,
                    format: str = "csv", where: str | None = None, title: str | None = None,
                    description: str | None = None, licence: str | None = None, duo: list[str] | None = None,
                    **options: object) -> LocalNode:
        """Data as a DataFrame (written to CSV) or a file/folder in ``format``, with a mapping
        where the format takes one; ``options`` go to ``ingest.pipeline.ingest`` (such as
        ``samples`` for a VCF). A dataset added twice is ingested twice, merged."""
        if not isinstance(data, pd.DataFrame):
            data = Path(data)
        about = {"description": description, "licence": licence, "duo": duo}
        self.datasets.append(_Dataset(dataset_id, data, Path(mapping) if mapping else None, format, where,
                                      title or dataset_id, options, about))
        return self


class LocalFederation:
    def __init__(self, workdir: str | Path | None = None, db: str | None = None, hub_workers: int = 1,
                 tls: bool = False, hub_port: int | None = None):
        """``workdir`` (default: a temporary folder, removed by ``stop``) is kept when given;
        ``hub_port`` is a free one unless given."""
        self._own_dir = workdir is None
        self.tls = tls
        self.ca: CertificateAuthority | None = None  # with tls: signs the servers' certificates
        self.ca_file: Path | None = None  # its certificate, which every client trusts
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="oncofed-local-"))
        if tls:
            self.ca = CertificateAuthority("oncofed local federation CA")
            self.ca_file = self.ca.write(self.workdir / "tls" / "ca.pem")
        self.db = db
        self.hub_workers = hub_workers
        self.nodes: dict[str, LocalNode] = {}
        self.hub: hub_home.HubHome | None = None
        self.hub_port: int | None = hub_port
        self.hub_process: subprocess.Popen | None = None
        self.token: str | None = None
        self.visa_trust = None  # what the nodes trust of the hub's permits, once started
        self.federation: Federation | None = None

    @property
    def hub_url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.hub_port}"

    @property
    def _scheme(self) -> str:
        return "https" if self.tls else "http"

    def add_node(self, name: str, *, country: str = "DE", transport: str = "direct",
                 guard: dict | None = None, analyses: list[str] | None = None,
                 certificate: tuple[str | Path, str | Path] | None = None) -> LocalNode:
        """``certificate``: with tls, a (cert, key) the direct node serves instead of one from the
        federation's CA, e.g. an expired one or another CA's, to see the hub refuse it."""
        node = LocalNode(name, country, transport, guard or {}, analyses,
                         certificate=tuple(Path(p) for p in certificate) if certificate else None)
        self.nodes[name] = node
        return node

    # life cycle ---------------------------------------------------------------------------

    def start(self) -> Federation:
        self.hub = hub_home.init(self.workdir / "hub", "Local hub", "local-hub",
                                 self.db or f"sqlite:///{(self.workdir / 'hub' / 'hub.db').resolve()}")
        (self.workdir / "hub-info.json").write_text(json.dumps(self.hub.info()))
        self.hub_port = self.hub_port or free_port()
        # the hub signs permits as its URL; its nodes trust them (as `oncofed hub visa-trust` hands over)
        identity.save_config(self.hub.path, identity.IdentityConfig(url=self.hub_url))
        store = HubStore(self.hub.config.db)
        signer = identity.HubIdentity(self.hub, store)
        self.visa_trust = signer.trust()
        signer.close()
        self._start_hub()
        try:
            for node in self.nodes.values():
                self._build(node)
                if node.transport == "direct":
                    node.port = free_port()
                    node.url = f"{self._scheme}://127.0.0.1:{node.port}"
                store.add_node(node.home.id, node.name, node.country, node.transport, node.home.public_key,
                               url=node.url, timeout_s=30)
                self._start_node(node)
            user = store.add_user("local researcher")
        finally:
            store.dispose()
        for node in self.nodes.values():
            self._wait_node(node)
        self.token = tokens.issue(self.hub.private_key, self.hub.config.id, user, timedelta(days=1))
        self.federation = Federation(self.hub_url, self.token, ca=self.ca_file)
        return self.federation

    def stop(self) -> None:
        for node in self.nodes.values():
            _end(node.process)
        _end(self.hub_process)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalFederation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # faults ---------------------------------------------------------------------------------

    def kill_node(self, name: str) -> None:
        """End a node's process at once (SIGKILL), as a crash would."""
        node = self.nodes[name]
        node.process.kill()
        node.process.wait()

    def pause_node(self, name: str) -> None:
        """Freeze a node (SIGSTOP): it holds its connections but answers nothing."""
        self.nodes[name].process.send_signal(signal.SIGSTOP)

    def resume_node(self, name: str) -> None:
        self.nodes[name].process.send_signal(signal.SIGCONT)

    def start_node(self, name: str) -> None:
        node = self.nodes[name]
        self._start_node(node)
        self._wait_node(node)

    def stop_hub(self) -> None:
        _end(self.hub_process)

    def restart_hub(self) -> None:
        self.stop_hub()
        self._start_hub()

    # internals ------------------------------------------------------------------------------

    def _build(self, node: LocalNode) -> None:
        home = node_home.init(self.workdir / "nodes" / node.name, node.name, node.country, node.name)
        config = home.config.model_copy(update={
            "hub": node_home.HubTrust(id=self.hub.config.id, public_key=self.hub.public_key, url=self.hub_url),
            "guard": home.config.guard.model_copy(update=node.guard),
            "analyses": node.analyses,
            "visas": self.visa_trust,
        })
        home = home.save(config)
        for d in node.datasets:
            files = [d.data]
            if isinstance(d.data, pd.DataFrame):
                files = [self.workdir / "nodes" / f"{node.name}-{d.id}.csv"]
                d.data.to_csv(files[0], index=False)
            with home.store() as store:
                if d.id not in {x.id for x in store.datasets()}:
                    store.add_dataset(d.id, d.title, **d.about)
            node.ingested[d.id] = ingest(home, d.id, d.format, files, mapping=d.mapping, where=d.where, **d.options)
        node.home = home

    def _start_hub(self) -> None:
        args = ["hub", "serve", str(self.hub.path), "--port", str(self.hub_port), "--workers", str(self.hub_workers)]
        if self.db:
            args += ["--db", self.db]
        self.hub_process = _spawn(args + self._tls_args("hub"), self.workdir / "hub.log")
        _wait_http(f"{self.hub_url}/api/hub", self.hub_process, self.workdir / "hub.log", self.ca_file)

    def _start_node(self, node: LocalNode) -> None:
        log = self.workdir / f"node-{node.name}.log"
        if node.transport == "direct":
            args = ["node", "serve", str(node.home.path), "--port", str(node.port)]
            node.process = _spawn(args + self._tls_args(f"node-{node.name}", node.certificate), log)
        else:
            node.process = _spawn(["node", "connect", str(node.home.path), "--hub", self.hub_url]
                                  + self._tls_args(None), log)

    def _tls_args(self, server: str | None, certificate: tuple[Path, Path] | None = None) -> list[str]:
        """With tls: the CA to trust, and for a server its certificate (made once, kept for restarts)."""
        if not self.tls:
            return []
        args = ["--ca", str(self.ca_file)]
        if server is not None:
            cert, key = certificate or (self.workdir / "tls" / f"{server}.pem", self.workdir / "tls" / f"{server}.key")
            if certificate is None and not cert.exists():
                self.ca.issue().write(cert.parent, server)
            args += ["--tls-cert", str(cert), "--tls-key", str(key)]
        return args

    def _wait_node(self, node: LocalNode) -> None:
        log = self.workdir / f"node-{node.name}.log"
        if node.transport == "direct":
            # a node serving a certificate the federation does not trust is up once it presents it
            _wait_http(f"{node.url}/node/info", node.process, log, self.ca_file, untrusted_ok=bool(node.certificate))
            return
        store = HubStore(self.hub.config.db)  # a relay node is up once it has polled the hub
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while store.node(node.home.id).last_seen is None:
                if node.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"relay node {node.name} did not poll the hub:\n{_tail(log)}")
                time.sleep(0.05)
        finally:
            store.dispose()


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as f:
        return subprocess.Popen([sys.executable, "-m", "oncofed", *args], stdout=f, stderr=subprocess.STDOUT,
                                env=os.environ | {"PYTHONUNBUFFERED": "1"})


def _wait_http(url: str, process: subprocess.Popen, log: Path, ca: Path | None = None,
               untrusted_ok: bool = False) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with web.client(ca, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited ({process.returncode}):\n{_tail(log)}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError as e:
                if untrusted_ok and tls.failure(e) is not None:
                    return
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up in {READY_TIMEOUT_S:g} s:\n{_tail(log)}")


def _end(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
