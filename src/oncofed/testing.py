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
to inject faults; a node added with ``tap=True`` talks to the hub through a ``Tap`` in the test
process, so that a test can act at an exact point of a run (kill the node as round 1 reaches
it, hold a request past its timeout) without racing a sleep. ``LocalFederation(tls=True)``
runs it all over HTTPS: a private CA made on the spot (``oncofed.testing_tls``) signs the hub's
and each direct node's certificate, and the hub, the relay agents and the ``Federation`` trust
it (``lf.ca_file``).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

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

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
UPSTREAM_TIMEOUT_S = 120.0  # a tap's wait for the far end (a relay poll is held open for up to 60 s)
NODE_TIMEOUT_S = 30  # how long the hub waits for a node's answer unless a test says otherwise


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
    tapped: bool = False  # added with ``tap=True``
    started_at: datetime | None = None  # when its process was last started
    tap: Tap | None = None  # its tap, once started
    rate: dict = field(default_factory=dict)  # changes to its rate limit (node.yaml ``rate``)
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
                 certificate: tuple[str | Path, str | Path] | None = None, tap: bool = False,
                 rate: dict | None = None) -> LocalNode:
        """``certificate``: with tls, a (cert, key) the direct node serves instead of one from the
        federation's CA, e.g. an expired one or another CA's, to see the hub refuse it.
        ``tap``: put a ``Tap`` (plain HTTP only) on the line between the hub and this node.
        ``rate``: changes to the node's rate limit per caller (``per_minute``, ``burst``)."""
        if tap and self.tls:
            raise ValueError("a tap reads the traffic, so it works over plain HTTP only")
        node = LocalNode(name, country, transport, guard or {}, analyses,
                         certificate=tuple(Path(p) for p in certificate) if certificate else None, tapped=tap,
                         rate=rate or {})
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
                if node.tapped:  # the hub calls a direct node through it; a relay node polls the hub through it
                    node.tap = Tap(node.url if node.transport == "direct" else self.hub_url)
                url = node.tap.url if node.tap and node.transport == "direct" else node.url
                store.add_node(node.home.id, node.name, node.country, node.transport, node.home.public_key,
                               url=url, timeout_s=NODE_TIMEOUT_S)
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
            if node.tap is not None:
                node.tap.close()
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

    def start_node(self, name: str, wait: bool = True) -> None:
        """Start a node's process again; ``wait=False`` does not wait for it to be ready (a
        node the hub will refuse never is)."""
        node = self.nodes[name]
        self._start_node(node)
        if wait:
            self._wait_node(node)

    def set_timeout(self, name: str, seconds: int = NODE_TIMEOUT_S) -> None:
        """How long the hub waits for this node's answer (its registered timeout), from the next
        run on: a short one for the node a test holds up, while the others keep theirs."""
        store = HubStore(self.hub.config.db)
        try:
            store.update_node(self.nodes[name].home.id, timeout_s=seconds)
        finally:
            store.dispose()

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
            "rate": home.config.rate.model_copy(update=node.rate),
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
        node.started_at = datetime.now(timezone.utc)
        if node.transport == "direct":
            args = ["node", "serve", str(node.home.path), "--port", str(node.port)]
            node.process = _spawn(args + self._tls_args(f"node-{node.name}", node.certificate), log)
        else:
            hub = node.tap.url if node.tap else self.hub_url
            node.process = _spawn(["node", "connect", str(node.home.path), "--hub", hub] + self._tls_args(None), log)

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
        store = HubStore(self.hub.config.db)  # a relay node is up once it has polled the hub, since it started
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while (seen := store.node(node.home.id).last_seen) is None or seen < node.started_at:
                if node.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"relay node {node.name} did not poll the hub:\n{_tail(log)}")
                time.sleep(0.05)
        finally:
            store.dispose()


@dataclass(frozen=True)
class Passage:
    """One HTTP exchange through a tap: the request and the reply, as JSON where they are;
    ``status`` is None when the far end could not be reached or the caller hung up first (the
    tap then cut the line)."""

    method: str
    path: str
    request: object
    status: int | None
    reply: object


class Tap:
    """An HTTP proxy in the test process on the line between the hub and one node: the hub's
    calls to a direct node, or a relay node's polls and answers to the hub. Nothing is changed
    on the way, but every request the hub sends the node passes ``on_request`` (called with the
    envelope's body, before the node gets it), so a test acts at an exact point of a run: it
    may kill the node there, or block until the hub has given up. When the far end cannot be
    reached the tap closes the connection unanswered, as a dead host's network would.
    ``passages`` records every exchange; ``wait_for`` waits for one."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.on_request: Callable[[dict], None] | None = None
        self.passages: list[Passage] = []
        self._changed = threading.Condition()
        self._under_way = 0
        tap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as between the real parties

            def do_GET(self) -> None:
                tap._pass(self)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name=f"tap to {upstream}", daemon=True).start()

    def wait_for(self, matches: Callable[[Passage], bool], since: int = 0, timeout: float = 60.0) -> Passage:
        """The first passage from ``passages[since]`` on that ``matches``, waiting up to
        ``timeout`` seconds for it to happen."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((p for p in self.passages[since:] if matches(p)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no such passage through the tap to {self.upstream} in {timeout:g} s")
                self._changed.wait(left)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until no exchange is under way through the tap (say, a dead node's poll has ended)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._under_way:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the tap to {self.upstream} is still busy after {timeout:g} s")
                self._changed.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _pass(self, handler: BaseHTTPRequestHandler) -> None:
        with self._changed:
            self._under_way += 1
        try:
            self._pass_on(handler)
        finally:
            with self._changed:
                self._under_way -= 1
                self._changed.notify_all()

    def _pass_on(self, handler: BaseHTTPRequestHandler) -> None:
        data = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        request = _json(data)
        if handler.path.startswith("/node/requests"):  # the hub calling a direct node
            self._deliver(request)
        reply = self._forward(handler, data)
        if reply is None:
            self._record(Passage(handler.command, handler.path, request, None, None))
            handler.close_connection = True
            return
        status, content_type, content = reply
        answer = _json(content)
        if handler.path.startswith("/api/relay/poll") and isinstance(answer, dict):  # work for a relay node
            for item in answer.get("requests") or ():
                self._deliver(item.get("envelope"))
        self._record(Passage(handler.command, handler.path, request, status, answer))
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)
        except OSError:  # the caller died meanwhile (perhaps by on_request's hand)
            handler.close_connection = True

    def _forward(self, handler: BaseHTTPRequestHandler, data: bytes) -> tuple[int, str, bytes] | None:
        """The far end's reply, or None when it cannot be reached or the caller hangs up first;
        then the upstream connection is closed too, as the caller's death would close it (a
        relay poll held open for a dead node must end, as it would without the tap)."""
        far = urlsplit(self.upstream)
        upstream = http.client.HTTPConnection(far.hostname, far.port, timeout=UPSTREAM_TIMEOUT_S)
        caller = handler.connection
        try:
            upstream.request(handler.command, handler.path, body=data,
                             headers={"Content-Type": handler.headers.get("Content-Type", "application/json")})
            watched = [upstream.sock, caller]
            while True:
                ready, _, _ = select.select(watched, [], [], UPSTREAM_TIMEOUT_S)
                if not ready:
                    return None
                if upstream.sock in ready:
                    break
                if not caller.recv(1, socket.MSG_PEEK):  # the caller hung up
                    return None
                watched = [upstream.sock]  # the caller sent more (never, over HTTP/1.1 without pipelining)
            response = upstream.getresponse()
            return response.status, response.getheader("Content-Type", "application/json"), response.read()
        except (OSError, http.client.HTTPException):
            return None
        finally:
            upstream.close()

    def _deliver(self, sealed: object) -> None:
        hook = self.on_request
        if hook is not None and isinstance(sealed, dict) and isinstance(sealed.get("body"), dict):
            try:
                hook(sealed["body"])
            except Exception:  # the test's own fault: say so, and pass the request on regardless
                log.exception("the tap's on_request failed")

    def _record(self, passage: Passage) -> None:
        with self._changed:
            self.passages.append(passage)
            self._changed.notify_all()


def _json(data: bytes) -> object:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


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
