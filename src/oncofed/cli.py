"""The one `oncofed` command. Thin: parse, call the library, print (a table, or JSON with --json)."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import oncofed
from oncofed.errors import OncofedError

app = typer.Typer(help="oncofed: a federated, FAIR cancer-data platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
node_app = typer.Typer(help="Run a node: create it, describe datasets, ingest data.", no_args_is_help=True)
app.add_typer(node_app, name="node")

out = Console()
err = Console(stderr=True)

NodePath = Annotated[Path, typer.Argument(help="The node's folder.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Ca = Annotated[Optional[Path], typer.Option(
    "--ca", envvar="ONCOFED_CA_BUNDLE",
    help="A private CA's certificate(s), PEM, to trust besides the public ones when verifying https servers.")]
TlsCert = Annotated[Optional[Path], typer.Option(
    help="Serve HTTPS with this certificate (PEM; the server's own first, then any intermediates).")]
TlsKey = Annotated[Optional[Path], typer.Option(help="The certificate's private key (PEM, unencrypted).")]


def _command(group: typer.Typer, name: str | None = None) -> Callable:
    """Register a command whose user errors print as one line and exit 1, never a traceback."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except OncofedError as e:
                err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None

        return group.command(name)(run)

    return wrap


def _print_json(data: object) -> None:
    out.print_json(json.dumps(data, default=str))


def _tls_setup(cert: Path | None, key: Path | None, ca: Path | None) -> dict:
    """Check the certificate, key and CA before the server starts (a bad file is an error here,
    not a traceback from uvicorn); uvicorn's TLS settings. ``ca`` is put in the environment for
    this process and its workers: what its outbound clients trust besides the public roots."""
    import os

    from oncofed import tls

    settings, notices = tls.server_settings(cert, key)
    tls.client_context(ca)  # a bad --ca or ONCOFED_CA_BUNDLE fails now, not at the first request
    if ca is not None:
        os.environ[tls.CA_ENV] = str(ca.resolve())
    for notice in notices:
        err.print(f"[yellow]warning:[/] {notice}", highlight=False, soft_wrap=True)
    return settings


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        out.print(oncofed.__version__)
        raise typer.Exit()


# node -----------------------------------------------------------------------------------


@_command(node_app, "init")
def node_init(
    path: NodePath,
    name: Annotated[str, typer.Option(help="The node's name, shown to the federation.")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 country code, e.g. DE.")],
    as_json: AsJson = False,
) -> None:
    """Create a node: its folder, configuration, pseudonymisation secret and empty store."""
    from oncofed.node import home

    h = home.init(path, name, country)
    if as_json:
        _print_json(h.info() | {"path": str(h.path)})
        return
    out.print(f"node [bold]{h.config.name}[/] ({h.config.country}) created at {path}")


@_command(node_app, "add-dataset")
def node_add_dataset(
    path: NodePath,
    dataset: Annotated[str, typer.Argument(help="Dataset id: a-z, 0-9, '.', '_', '-'.")],
    title: Annotated[str, typer.Option(help="A human title.")],
    description: Annotated[Optional[str], typer.Option(help="What the dataset holds.")] = None,
    licence: Annotated[Optional[str], typer.Option(help="Licence, e.g. CC-BY-4.0.")] = None,
    contact: Annotated[Optional[str], typer.Option(help="Contact point (e-mail or URL).")] = None,
    duo: Annotated[Optional[list[str]], typer.Option(help="DUO data-use code, e.g. DUO:0000042; repeatable.")] = None,
    as_json: AsJson = False,
) -> None:
    """Register a dataset on the node, ready for ingest."""
    d = _on_store(path, "add-dataset", dataset_id=dataset, title=title, description=description, duo=duo,
                  licence=licence, contact=contact)
    if as_json:
        _print_json(d)
        return
    out.print(f"dataset [bold]{d['id']}[/] added")


def _on_store(path: Path, op: str, **args) -> Any:
    """A steward's command on the node store (``node.admin.OPERATIONS``), as JSON: done by the
    serving node if one serves this folder, else on the store file."""
    from oncofed.node import admin, home

    h = home.load(path)
    served = admin.call(h, op, args, lambda kind, event: None)
    if served is not None:
        return served
    with h.store(read_only=admin.OPERATIONS[op][2]) as store:
        return admin.run(op, store, h, args)


def _when(iso: str) -> str:
    """An ISO 8601 time from a command's JSON, to the second, as the tables show it."""
    return iso[:19].replace("T", " ")


@_command(node_app, "datasets")
def node_datasets(path: NodePath, as_json: AsJson = False) -> None:
    """List the node's datasets with their current version."""
    rows = _on_store(path, "datasets")
    if as_json:
        _print_json(rows)
        return
    t = Table("dataset", "title", "version", "individuals", "content hash")
    for d in rows:
        t.add_row(d["id"], d["title"], str(d["version"] or "–"), str(d["individuals"]), (d["content_hash"] or "–")[:23])
    out.print(t)


@_command(node_app, "show")
def node_show(path: NodePath, dataset: str, as_json: AsJson = False) -> None:
    """A dataset's records per table, its Beacon disclosure settings, and its versions with
    their hashes and sources."""
    d = _on_store(path, "show", dataset_id=dataset)
    if as_json:
        _print_json(d)
        return
    out.print(f"[bold]{d['id']}[/] — {d['title']}" + (f"\n{d['description']}" if d["description"] else ""))
    out.print(_access_line(d["access"]))
    t = Table("table", "records")
    for name, n in d["counts"].items():
        if n:
            t.add_row(name, f"{n:,}")
    out.print(t)
    v = Table("version", "created", "format", "mode", "content hash", "sources")
    for x in d["versions"]:
        v.add_row(str(x["version"]), _when(x["created_at"]), x["format"], x["mode"], x["content_hash"],
                  "\n".join(f"{s['name']} (sha256:{s['sha256'][:12]}…)" for s in x["sources"]))
    out.print(v)


def _access_line(a: dict) -> str:
    synthetic = "; synthetic data (Beacon test mode only)" if a["synthetic"] else ""
    return f"Beacon: public {a['public']} · registered {a['registered']} · controlled {a['controlled']}{synthetic}"


@_command(node_app, "access")
def node_access(
    path: NodePath,
    dataset: str,
    public: Annotated[Optional[str], typer.Option(help="Finest granularity for anyone: boolean or count.")] = None,
    registered: Annotated[Optional[str], typer.Option(
        help="Finest granularity for signed-in researchers: boolean or count.")] = None,
    controlled: Annotated[Optional[str], typer.Option(
        help="Finest granularity for holders of a visa for the dataset: boolean, count or record.")] = None,
    synthetic: Annotated[Optional[bool], typer.Option(
        "--synthetic/--real", help="Made-up records: answer Beacon test-mode requests only from these.")] = None,
    as_json: AsJson = False,
) -> None:
    """Set what a dataset discloses through the Beacon, per access level (defaults: public boolean,
    registered count, controlled record); with no option, show it."""
    a = _on_store(path, "access", dataset_id=dataset, public=public, registered=registered, controlled=controlled,
                  synthetic=synthetic)
    if as_json:
        _print_json(a)
    else:
        out.print(f"dataset [bold]{dataset}[/] — {_access_line(a)}")


@_command(node_app, "ingest")
def node_ingest(
    path: NodePath,
    files: Annotated[Optional[list[Path]], typer.Argument(
        help="Files or folders to read (idc: the index, by default the installed idc-index-data's).")] = None,
    dataset: Annotated[str, typer.Option(help="The dataset to ingest into.")] = ...,
    format: Annotated[str, typer.Option("--format", "-f",
                                        help="csv, tsv, phenopacket, fhir, vcf, dicom, idc or exposures.")] = ...,
    mapping: Annotated[Optional[Path], typer.Option(help="YAML mapping (csv/tsv).")] = None,
    where: Annotated[Optional[str], typer.Option(help="Only rows where this SQL condition holds (csv/tsv).")] = None,
    samples: Annotated[Optional[Path], typer.Option(
        help="Sample sheet (TSV) linking VCF samples to individuals and biosamples (vcf).")] = None,
    assembly: Annotated[Optional[str], typer.Option(
        help="GRCh37 or GRCh38, for VCFs whose header does not name it (vcf).")] = None,
    patients: Annotated[Optional[Path], typer.Option(
        help="TSV of dicom_patient_id → patient_id, linking images to clinical records (dicom).")] = None,
    on_error: Annotated[str, typer.Option(
        help="At a bad file: refuse the whole input, or skip the file and say so (dicom).")] = "refuse",
    region_column: Annotated[Optional[str], typer.Option(help="The column holding region codes (exposures).")] = None,
    coding: Annotated[Optional[str], typer.Option(
        help="The coding of the region codes: NUTS, LAD, FIPS or a local name (exposures).")] = None,
    replace: Annotated[bool, typer.Option(help="Make this input the dataset's whole content.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Read and check everything and say what the ingest would change; write nothing.")] = False,
    as_json: AsJson = False,
) -> None:
    """Ingest files into a dataset, all or nothing, as a new dataset version. While the node
    serves, the serving process does it, between the requests it answers."""
    from oncofed.ingest.pipeline import ingest
    from oncofed.node import admin, home
    from oncofed.store.store import WriteResult

    h = home.load(path)
    options = {"dataset_id": dataset, "format": format, "files": [f.absolute() for f in files or []],
               "mapping": mapping, "where": where, "samples": samples, "assembly": assembly, "patients": patients,
               "on_error": on_error, "region_column": region_column, "region_coding": coding, "replace": replace,
               "dry_run": dry_run}
    options = {k: v.absolute() if isinstance(v, Path) else v for k, v in options.items()}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task("reading", total=None)

        def progress(advance: float = 0, total: float | None = None, description: str | None = None) -> None:
            bar.update(task, advance=advance, total=total, description=description or bar.tasks[0].description)

        def notice(message: str) -> None:
            err.print(f"[yellow]note:[/] {message}", highlight=False, soft_wrap=True)

        def event(kind: str, data: dict) -> None:
            if kind == "progress":
                progress(**data)
            else:
                notice(data["message"])

        served = admin.call(h, "ingest", options, event)
        if served is None:
            result = ingest(h, **options, progress=progress, notice=notice)
        else:
            result = WriteResult(**served)
            if not as_json:
                err.print(f"node {h.id} is serving: it {'checked' if dry_run else 'ingested'} this between requests")
    if as_json:
        _print_json(asdict(result))
    elif result.dry_run:
        _show_dry_run(dataset, result)
    elif result.created:
        held = ", ".join(f"{n:,} {t}" for t, n in result.counts.items() if n)
        out.print(f"[green]dataset {dataset}: version {result.version}[/] ({result.content_hash[:23]}…) holds {held}")
    else:
        out.print(f"dataset {dataset}: unchanged, the content equals version {result.version}")


def _show_dry_run(dataset: str, result) -> None:
    if not result.created:
        out.print(f"dry run: dataset {dataset} would be unchanged, the content equals version {result.version}; "
                  "nothing was written", soft_wrap=True)
        return
    out.print(f"dry run: dataset {dataset} would become version {result.version}; nothing was written", soft_wrap=True)
    t = Table("table", "now", "after", "change")
    for name, after in result.counts.items():
        now = result.before.get(name, 0)
        if now or after:
            t.add_row(name, f"{now:,}", f"{after:,}", f"{after - now:+,}" if after != now else "")
    out.print(t)


@_command(node_app, "draft-mapping")
def node_draft_mapping(
    file: Annotated[Path, typer.Argument(help="The clinical table (CSV, or TSV with --tsv; plain or .gz).")],
    tsv: Annotated[bool, typer.Option("--tsv", help="The file is tab-separated.")] = False,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write the draft here instead of printing it.")]
    = None,
) -> None:
    """Draft a mapping for a clinical table from its columns: patient id, sex, age and survival
    recognised, everything else listed with its profile; every guess marked TODO. Check it with
    ingest --dry-run."""
    from oncofed.ingest.draft import draft

    text = draft(file, "\t" if tsv else ",")
    if out_file is None:
        out.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    else:
        out_file.write_text(text)
        err.print(f"draft mapping written to {out_file}: check every TODO")


@_command(node_app, "export-phenopacket")
def node_export_phenopacket(
    path: NodePath,
    dataset: str,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write one Phenopacket JSON per individual.")],
    as_json: AsJson = False,
) -> None:
    """Write the dataset's individuals as GA4GH Phenopackets v2 (JSON)."""
    exported = _on_store(path, "export-phenopacket", dataset_id=dataset, out_dir=out_dir.absolute())
    if as_json:
        _print_json(exported)
        return
    out.print(f"{len(exported['written'])} phenopackets written to {out_dir}")

@_command(node_app, "info")
def node_info(path: NodePath) -> None:
    """Print what a hub needs to register this node (id, name, country, public key) as JSON."""
    from oncofed.node import home

    _print_json(home.load(path).info())


@_command(node_app, "trust-hub")
def node_trust_hub(
    path: NodePath,
    info: Annotated[Path, typer.Option(help="The hub's info JSON (from `oncofed hub info`).")],
    url: Annotated[Optional[str], typer.Option(help="The hub's URL, for the relay agent.")] = None,
) -> None:
    """Trust a hub: accept requests it signs and researcher tokens it issues."""
    from oncofed.node import home
    from oncofed.node.home import HubTrust

    h = home.load(path)
    try:
        data = json.loads(info.read_text())
        trust = HubTrust(id=data["id"], public_key=data["public_key"], url=url)
    except (OSError, ValueError, KeyError) as e:
        raise OncofedError(f"{info}: not a hub info file ({e})") from None
    h.save(h.config.model_copy(update={"hub": trust}))
    out.print(f"node {h.id} now trusts hub [bold]{trust.id}[/]")


@_command(node_app, "trust-visas")
def node_trust_visas(
    path: NodePath,
    file: Annotated[Path, typer.Argument(help="The trust JSON a hub's operator gives (`oncofed hub visa-trust`).")],
) -> None:
    """Trust a hub's data access committees: accept the permits (GA4GH visas) it signs for
    record-level access to this node's datasets."""
    from pydantic import ValidationError

    from oncofed.auth.visas import TrustConfig
    from oncofed.node import home

    h = home.load(path)
    try:
        trust = TrustConfig.model_validate_json(file.read_text())
    except OSError as e:
        raise OncofedError(f"{file}: cannot read it ({e.strerror})") from None
    except ValidationError as e:
        err = e.errors()[0]
        raise OncofedError(f"{file}: not a visa trust file: {'.'.join(map(str, err['loc'])) or '(root)'}: "
                           f"{err['msg']}") from None
    h.save(h.config.model_copy(update={"visas": trust}))
    out.print(f"node {h.id} now accepts visas from {', '.join(t.issuer for t in trust.issuers) or 'nobody'}")


@_command(node_app, "serve")
def node_serve(
    path: NodePath,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8701,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    ca: Ca = None,
) -> None:
    """Serve the node for the direct transport (the hub calls it); HTTPS with --tls-cert and --tls-key."""
    import uvicorn

    from oncofed.node import home
    from oncofed.node.app import create_app

    h = home.load(path)
    settings = _tls_setup(tls_cert, tls_key, ca)
    uvicorn.run(create_app(h), host=host, port=port, log_level="warning", timeout_graceful_shutdown=2, **settings)


@_command(node_app, "connect")
def node_connect(
    path: NodePath,
    hub: Annotated[Optional[str], typer.Option(help="The hub's URL (default: the one given to trust-hub).")] = None,
    ca: Ca = None,
) -> None:
    """Run the relay agent: poll the hub for requests and answer them, opening no port. An
    https hub's certificate is verified (--ca for a private CA)."""
    import asyncio
    import signal

    from oncofed.node import admin, home, relay
    from oncofed.node.handler import Node

    h = home.load(path)
    url = hub or (h.config.hub.url if h.config.hub else None)
    if not url:
        raise OncofedError("no hub URL: give --hub or set it with `oncofed node trust-hub --url`")
    _tls_setup(None, None, ca)
    node = Node.open(h)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        err.print(f"node {h.id}: polling {url} for requests (Ctrl-C to stop)")
        async with admin.serving(node):  # the steward's commands on the store while it serves
            agent = asyncio.create_task(relay.run(node, url, stop, ca))
            await stop.wait()
            agent.cancel()  # do not wait for a long poll in flight
            await asyncio.gather(agent, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        node.close()


@_command(node_app, "audit")
def node_audit(
    path: NodePath,
    verify: Annotated[bool, typer.Option("--verify", help="Check the hash chain; exit 1 if it is broken.")] = False,
    anchor: Annotated[Optional[str], typer.Option(
        help="With --verify: SEQ:HASH, the head of this log the hub kept (`oncofed hub nodes --json`); "
             "catches a log cut short.")] = None,
    last: Annotated[int, typer.Option(help="Show the last N entries.")] = 20,
    as_json: AsJson = False,
) -> None:
    """Who asked what, and what was released or refused; --verify detects any edited entry, and
    with the hub's --anchor any removed one."""
    if anchor is not None and not verify:
        raise OncofedError("--anchor is checked by --verify: give both")
    logged = _on_store(path, "audit", last=last, verify=verify, anchor=anchor)
    if verify:
        if as_json:
            _print_json(logged)
        elif logged["problems"]:
            for p in logged["problems"]:
                err.print(f"[bold red]audit log broken:[/] {p['message']}")
        else:
            out.print("audit log intact")
        if not logged["ok"]:
            raise typer.Exit(1)
        return
    if as_json:
        _print_json(logged["entries"])
        return
    t = Table("seq", "time", "requester", "request", "datasets", "outcome")
    for e in logged["entries"]:
        t.add_row(str(e["seq"]), _when(e["at"]), e["requester"] or "–", e["kind"],
                  ", ".join(e["datasets"] or {}), e["outcome"] + (f": {e['reason']}" if e["reason"] else ""))
    out.print(t)


@_command(node_app, "describe")
def node_describe(
    path: NodePath,
    dataset: Annotated[str, typer.Argument(help="The dataset to describe.")],
    file: Annotated[Path, typer.Option("--file", help="The description, YAML (see catalogue/description.py).")],
    as_json: AsJson = False,
) -> None:
    """Describe a dataset for the FAIR catalogue (HealthDCAT-AP); counts, ages, coding systems,
    data types and versions come from the data."""
    from oncofed.catalogue import description

    meta = description.read(file, description.DatasetDescription)
    described = _on_store(path, "describe", dataset_id=dataset,
                          description=meta.model_dump(mode="json", exclude_unset=True))
    if as_json:
        _print_json(described)
        return
    out.print(f"dataset [bold]{dataset}[/] described; from the data: "
              + "; ".join(f"{k.replace('_', ' ')} {_shown(v)}" for k, v in described["from_the_data"].items()),
              soft_wrap=True)


def _shown(value: object) -> str:
    if value is None:
        return "withheld"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


@_command(node_app, "describe-catalogue")
def node_describe_catalogue(
    path: NodePath,
    file: Annotated[Path, typer.Option("--file", help="The catalogue's settings, YAML: base_url, title, "
                                                      "description, publisher, homepage, licence, language.")],
) -> None:
    """Describe the node's catalogue as a whole, including the base URL of its identifiers."""
    from oncofed.catalogue import description

    settings = description.read(file, description.CatalogueSettings)
    saved = _on_store(path, "describe-catalogue", settings=settings.model_dump(mode="json", exclude_unset=True))
    out.print(f"catalogue of node {saved['node']} described" + (f"; identifiers under {saved['base_url']}"
                                                               if saved["base_url"] else ""))


@_command(node_app, "catalogue")
def node_catalogue(
    path: NodePath,
    format: Annotated[str, typer.Option("--format", "-f", help="turtle, json-ld or rdf-xml.")] = "turtle",
    base_url: Annotated[Optional[str], typer.Option(help="Base of the identifiers, if none is configured.")] = None,
) -> None:
    """Print the node's whole catalogue (DCAT-AP 3 with HealthDCAT-AP) as its FAIR Data Point serves it."""
    print(_on_store(path, "catalogue", format=format, base_url=base_url)["text"])


# hub ------------------------------------------------------------------------------------

hub_app = typer.Typer(help="Run a hub: register nodes and researchers, serve the federation.", no_args_is_help=True)
app.add_typer(hub_app, name="hub")
user_app = typer.Typer(help="Researcher accounts.", no_args_is_help=True)
hub_app.add_typer(user_app, name="user")
HubPath = Annotated[Path, typer.Argument(help="The hub's folder.")]
HubDb = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: the hub's own SQLite file).")]


def _hub_store(path: Path, db: str | None):
    from oncofed.hub import home
    from oncofed.hub.store import HubStore

    h = home.load(path)
    return h, HubStore(db or h.config.db)


@_command(hub_app, "init")
def hub_init(
    path: HubPath,
    name: Annotated[str, typer.Option(help="The hub's name.")],
    hub_id: Annotated[Optional[str], typer.Option("--id", help="The hub's id (default: from the name).")] = None,
    db: HubDb = None,
    as_json: AsJson = False,
) -> None:
    """Create a hub: its folder, configuration and signing key."""
    from oncofed.hub import home

    h = home.init(path, name, hub_id, db)
    if as_json:
        _print_json(h.info() | {"path": str(h.path), "db": h.config.db})
        return
    out.print(f"hub [bold]{h.config.id}[/] created at {path} (database {h.config.db})")


@_command(hub_app, "info")
def hub_info(path: HubPath) -> None:
    """Print what a node needs to trust this hub (id, name, public key) as JSON."""
    from oncofed.hub import home

    _print_json(home.load(path).info())


@_command(hub_app, "serve")
def hub_serve(
    path: HubPath,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    db: HubDb = None,
    workers: Annotated[int, typer.Option(help="Worker processes sharing the database.")] = 1,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    ca: Ca = None,
) -> None:
    """Serve the hub API; HTTPS with --tls-cert and --tls-key. The hub verifies https nodes'
    certificates (--ca for the federation's private CA)."""
    import os

    import uvicorn

    from oncofed.hub import home

    home.load(path)  # fail here, clearly, rather than in every worker
    settings = _tls_setup(tls_cert, tls_key, ca)
    os.environ["ONCOFED_HUB_HOME"] = str(path.resolve())
    if db:
        os.environ["ONCOFED_HUB_DB"] = db
    uvicorn.run("oncofed.hub.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", timeout_graceful_shutdown=2, **settings)


@_command(hub_app, "add-node")
def hub_add_node(
    path: HubPath,
    info: Annotated[Path, typer.Option(help="The node's info JSON (from `oncofed node info`).")],
    transport: Annotated[str, typer.Option(help="direct (the hub calls the node) or relay (the node polls).")],
    url: Annotated[Optional[str], typer.Option(help="The node's URL (direct transport).")] = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for this node's answers (1 to 600).")] = 30,
    db: HubDb = None,
    as_json: AsJson = False,
) -> None:
    """Register a node with the hub."""
    data = _node_info(info)
    _, store = _hub_store(path, db)
    try:
        node = store.add_node(data["id"], data["name"], data["country"], transport, data["public_key"],
                              url=url, timeout_s=timeout)
    finally:
        store.dispose()
    if as_json:
        _print_json(asdict(node))
        return
    out.print(f"node [bold]{node.id}[/] ({node.country}, {node.transport}) registered")


@_command(hub_app, "set-node")
def hub_set_node(
    path: HubPath,
    node_id: Annotated[str, typer.Argument(metavar="NODE", help="The registered node's id.")],
    info: Annotated[Optional[Path], typer.Option(
        help="The node's info JSON again, after it made a new key or changed its name or country.")] = None,
    transport: Annotated[Optional[str], typer.Option(help="direct or relay.")] = None,
    url: Annotated[Optional[str], typer.Option(help="The node's URL (direct transport).")] = None,
    timeout: Annotated[Optional[int], typer.Option(help="Seconds to wait for this node's answers (1 to 600).")] = None,
    db: HubDb = None,
    as_json: AsJson = False,
) -> None:
    """Change a registered node: its URL, transport, timeout or, from its info file, its key.
    The running hub uses the change from its next request to the node."""
    changes: dict = {k: v for k, v in (("transport", transport), ("url", url), ("timeout_s", timeout)) if v is not None}
    if info is not None:
        data = _node_info(info)
        if data["id"] != node_id:
            raise OncofedError(f"{info}: describes node {data['id']!r}, not {node_id!r}")
        changes |= {k: data[k] for k in ("name", "country", "public_key")}
    if not changes:
        raise OncofedError("nothing to change: give --url, --transport, --timeout or --info")
    _, store = _hub_store(path, db)
    try:
        node = store.update_node(node_id, **changes)
    finally:
        store.dispose()
    if as_json:
        _print_json(asdict(node))
        return
    out.print(f"node [bold]{node.id}[/] ({node.country}, {node.transport}"
              f"{' ' + node.url if node.url else ''}, timeout {node.timeout_s} s) changed: {', '.join(sorted(changes))}")


@_command(hub_app, "remove-node")
def hub_remove_node(
    path: HubPath,
    node_id: Annotated[str, typer.Argument(metavar="NODE", help="The registered node's id.")],
    db: HubDb = None,
    as_json: AsJson = False,
) -> None:
    """Unregister a node: the hub stops asking it, forgets its harvested catalogue and ends its
    waiting relay requests. Past runs and access decisions keep what they recorded."""
    from oncofed.hub import catalogue

    _, store = _hub_store(path, db)
    try:
        ended = store.remove_node(node_id, held=catalogue.HELD)
    finally:
        store.dispose()
    if as_json:
        _print_json({"removed": node_id, "requests_ended": ended})
        return
    out.print(f"node [bold]{node_id}[/] removed" + (f"; {ended} waiting request(s) ended" if ended else ""))


def _node_info(info: Path) -> dict:
    """A node's info file (from `oncofed node info`): id, name, country, public_key."""
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError) as e:
        raise OncofedError(f"{info}: not a node info file ({e})") from None
    fields = ("id", "name", "country", "public_key")
    missing = [k for k in fields if not isinstance(data, dict) or not isinstance(data.get(k), str)]
    if missing:
        raise OncofedError(f"{info}: not a node info file (expected text for {', '.join(missing)})")
    return {k: data[k] for k in fields}


@_command(hub_app, "nodes")
def hub_nodes(path: HubPath, db: HubDb = None, as_json: AsJson = False) -> None:
    """The registered nodes and their health: last seen, transport, last error."""
    _, store = _hub_store(path, db)
    try:
        nodes = store.nodes()
    finally:
        store.dispose()
    if as_json:
        _print_json([asdict(n) for n in nodes])
        return
    t = Table("node", "country", "transport", "timeout", "audit anchor", "last seen", "last error")
    for n in nodes:
        t.add_row(n.id, n.country, n.transport + (f" {n.url}" if n.url else ""), f"{n.timeout_s} s",
                  f"entry {n.audit_seq}" if n.audit_seq else "–",
                  f"{n.last_seen:%Y-%m-%d %H:%M:%S}" if n.last_seen else "never",
                  f"{n.last_error_at:%Y-%m-%d %H:%M:%S} {n.last_error}" if n.last_error else "–")
    out.print(t)


@_command(hub_app, "harvest")
def hub_harvest(
    path: HubPath,
    node: Annotated[Optional[list[str]], typer.Option("--node", help="Only this node; repeatable.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each node.")] = 30.0,
    db: HubDb = None,
    ca: Ca = None,
    as_json: AsJson = False,
) -> None:
    """Harvest the nodes' catalogues now. Relay nodes answer through the running hub's queue."""
    import asyncio

    from oncofed.hub.catalogue import Harvester
    from oncofed.hub.transports.direct import DirectTransport
    from oncofed.hub.transports.relay import RelayQueue, RelayTransport
    from oncofed.web import async_client

    h, store = _hub_store(path, db)

    async def run() -> dict:
        async with async_client(ca) as client:
            transports = {"direct": DirectTransport(client), "relay": RelayTransport(RelayQueue(store))}
            return await Harvester(store, h, transports).harvest(node, timeout)

    try:
        summary = asyncio.run(run())
    finally:
        store.dispose()
    if as_json:
        _print_json(summary)
        return
    t = Table("node", "status", "datasets / reason")
    for node_id, s in summary.items():
        t.add_row(node_id, s["status"], str(s.get("datasets", s.get("reason", ""))))
    out.print(t)


@_command(user_app, "add")
def hub_user_add(
    path: HubPath,
    name: Annotated[str, typer.Argument(help="The researcher's name.")],
    days: Annotated[int, typer.Option(help="How long the token is valid, in days.")] = 30,
    db: HubDb = None,
    as_json: AsJson = False,
) -> None:
    """Create a researcher account and print a token for it."""
    from datetime import timedelta

    from oncofed.auth import tokens

    h, store = _hub_store(path, db)
    try:
        user_id = store.add_user(name)
    finally:
        store.dispose()
    token = tokens.issue(h.private_key, h.config.id, user_id, timedelta(days=days))
    if as_json:
        _print_json({"id": user_id, "name": name, "token": token, "days": days})
        return
    err.print(f"researcher {name} ({user_id}); token valid {days} days:")
    out.print(token, soft_wrap=True)


# analyse --------------------------------------------------------------------------------

analyse_app = typer.Typer(help="Run federated analyses through a hub.", no_args_is_help=True)
app.add_typer(analyse_app, name="analyse")
Hub = Annotated[str, typer.Option("--hub", envvar="ONCOFED_HUB", help="The hub's URL.")]
Token = Annotated[str, typer.Option("--token", envvar="ONCOFED_TOKEN", help="Your researcher token.")]
Datasets = Annotated[Optional[list[str]], typer.Option("--dataset", help="Only these datasets; repeatable.")]
Where = Annotated[Optional[list[str]], typer.Option(
    "--where", help="A filter 'variable op value', e.g. 'age < 50', 'diagnosis descendant_of NCIT:C4872', "
                    "'stage in NCIT:C27970,NCIT:C27971'; repeatable.")]


@contextlib.contextmanager
def _fan_out_progress(name: str, disable: bool):
    """A live line on stderr while a run fans out: its round and each node's latest status."""
    if disable:
        yield None
        return
    with err.status(f"{name}: asking the nodes…", spinner="dots") as status:

        def show(raw: dict) -> None:
            parts = raw.get("per_node") or {}
            done = max((p.get("round", 0) for p in parts.values()), default=-1) + 1
            nodes = ", ".join(f"{n} {p['status']}" for n, p in sorted(parts.items())) or "no answer yet"
            status.update(f"{name}: {raw['status']}, {done} round(s) answered · {nodes}")

        yield show


def _analyse(hub: str, token: str, ca: Path | None, name: str, params: dict, datasets, where,
             as_json: bool) -> None:
    from oncofed.client.federation import Federation

    with Federation(hub, token, ca=ca) as fed, _fan_out_progress(name, as_json) as progress:
        result = fed.run(name, params, datasets=datasets, where=where or (),
                         progress=progress)
    if as_json:
        _print_json(result.raw)
        return
    from oncofed.hub.portal_results import tables  # the portal's tables: withheld counts never as numbers

    for shown in tables(result.raw):
        columns, rows = _fitting(shown["columns"], shown["rows"], out.width)
        t = Table(*columns, title=shown["title"])
        for row in rows:
            t.add_row(*row)
        out.print(t)
    for note in result.result.get("notes") or []:
        out.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    t = Table("node", "status", "reason", title="nodes")
    for node, row in result.per_node.iterrows():
        reason = row.get("reason")
        t.add_row(str(node), row["status"], reason if isinstance(reason, str) else "")  # NaN where none
    out.print(t)
    out.print(f"run {result.run_id}; its provenance (RO-Crate, zipped): "
              f"{hub.rstrip('/')}/api/analyses/{result.run_id}/provenance", soft_wrap=True)


def _fitting(columns: list[str], rows: list[list[str]], width: int) -> tuple[list[str], list[list[str]]]:
    """A table as printed: turned on its side when it is too wide for the terminal and has
    fewer rows than columns (a Cox model's 11 statistics of 2 covariates), so no number is
    cut short."""
    needed = sum(max(len(str(c)), *(len(str(r[i])) for r in rows)) + 3 for i, c in enumerate(columns)) + 1
    if needed <= width or len(rows) >= len(columns) - 1:
        return columns, rows
    return ([columns[0], *(r[0] for r in rows)],
            [[name, *(r[i] for r in rows)] for i, name in enumerate(columns[1:], start=1)])


@_command(analyse_app, "count")
def analyse_count(hub: Hub, token: Token, dataset: Datasets = None, where: Where = None, ca: Ca = None,
                  as_json: AsJson = False) -> None:
    """How many individuals match, across the federation."""
    _analyse(hub, token, ca, "count", {}, dataset, where, as_json)


@_command(analyse_app, "crosstab")
def analyse_crosstab(row: str, column: str, hub: Hub, token: Token, dataset: Datasets = None,
                     where: Where = None, ca: Ca = None, as_json: AsJson = False) -> None:
    """A contingency table of two categorical variables, with a chi-square test."""
    _analyse(hub, token, ca, "crosstab", {"row": row, "column": column}, dataset, where, as_json)


@_command(analyse_app, "summary")
def analyse_summary(variable: str, hub: Hub, token: Token, bins: int = 20, dataset: Datasets = None,
                    where: Where = None, ca: Ca = None, as_json: AsJson = False) -> None:
    """n, mean, sd and quantiles of a numeric variable."""
    _analyse(hub, token, ca, "summary", {"variable": variable, "bins": bins}, dataset, where, as_json)


@_command(analyse_app, "km")
def analyse_km(hub: Hub, token: Token, duration: str = "os_days", event: str = "os_event",
               group: Optional[str] = None, interval: float = 30.0, dataset: Datasets = None,
               where: Where = None, ca: Ca = None, as_json: AsJson = False) -> None:
    """Kaplan–Meier survival (with a log-rank test when --group is given)."""
    params = {"duration": duration, "event": event, "interval": interval} | ({"group": group} if group else {})
    _analyse(hub, token, ca, "km", params, dataset, where, as_json)


@_command(analyse_app, "cox")
def analyse_cox(covariates: Annotated[list[str], typer.Argument(help="Covariates.")], hub: Hub, token: Token,
                duration: str = "os_days", event: str = "os_event", ties: str = "efron",
                dataset: Datasets = None, where: Where = None, ca: Ca = None, as_json: AsJson = False) -> None:
    """Cox proportional hazards, stratified by node."""
    params = {"duration": duration, "event": event, "covariates": covariates, "ties": ties}
    _analyse(hub, token, ca, "cox", params, dataset, where, as_json)


@_command(analyse_app, "glm")
def analyse_glm(outcome: str, covariates: Annotated[list[str], typer.Argument(help="Covariates.")], hub: Hub,
                token: Token, family: str = "gaussian", dataset: Datasets = None, where: Where = None,
                ca: Ca = None, as_json: AsJson = False) -> None:
    """A generalised linear model (gaussian, binomial or poisson)."""
    _analyse(hub, token, ca, "glm", {"outcome": outcome, "covariates": covariates, "family": family}, dataset,
             where, as_json)


# provenance -------------------------------------------------------------------------------


@_command(app, "rerun")
def rerun(
    crate: Annotated[Path, typer.Argument(help="A run's provenance crate: its folder or zip (from the hub, the "
                                               "portal or result.provenance.save).")],
    hub: Annotated[Optional[str], typer.Option("--hub", envvar="ONCOFED_HUB",
                                               help="The hub's URL (default: the hub the crate names).")] = None,
    token: Token = ...,
    ca: Ca = None,
    as_json: AsJson = False,
) -> None:
    """Run a recorded analysis again — same analysis and version, cohort, parameters and nodes —
    and say whether the result is identical, and which dataset versions changed. Exit 1 if the
    result differs."""
    from oncofed.client.federation import Federation
    from oncofed.hub import provenance

    recorded = provenance.read(crate)
    url = hub or recorded.hub_url
    if not url:
        raise OncofedError(f"{crate} names no hub URL: give --hub")
    with Federation(url, token, ca=ca) as fed, _fan_out_progress(recorded.analysis, as_json) as progress:
        again = fed.rerun(crate, progress=progress)
    if as_json:
        _print_json(again.to_json())
    else:
        out.print(f"{recorded.analysis} {recorded.version} (run {recorded.run_id}) run again as {again.result.run_id} "
                  f"on {', '.join(recorded.nodes)}", highlight=False, soft_wrap=True)
        if again.identical:
            out.print("[green]identical result[/]")
        else:
            out.print("[bold red]the result differs:[/]")
            for where in again.differences:
                out.print(f"  {where}", highlight=False, soft_wrap=True)
        if again.dataset_changes:
            out.print("dataset versions changed (node/dataset: old → new):")
            for change in again.dataset_changes:
                out.print(f"  {change}", highlight=False, soft_wrap=True)
        elif not again.identical:
            out.print("every dataset version is the one recorded")
    if not again.identical:
        raise typer.Exit(1)


# catalogue ------------------------------------------------------------------------------

catalogue_app = typer.Typer(help="Find datasets in the federation's catalogue.", no_args_is_help=True)
app.add_typer(catalogue_app, name="catalogue")


@_command(catalogue_app, "search")
def catalogue_search(
    q: Annotated[Optional[str], typer.Argument(help="Words that must all occur (title, description, keywords).")] = None,
    hub: Hub = ...,
    token: Annotated[Optional[str], typer.Option("--token", envvar="ONCOFED_TOKEN",
                                                 help="Your researcher token (the catalogue is public).")] = None,
    cancer: Annotated[Optional[list[str]], typer.Option(help="Cancer type (with its descendants), e.g. NCIT:C4872.")] = None,
    data_type: Annotated[Optional[list[str]], typer.Option(help="Data type: individuals, diseases, variants …")] = None,
    country: Annotated[Optional[list[str]], typer.Option(help="ISO 3166 alpha-2: where held or covered.")] = None,
    access: Annotated[Optional[list[str]], typer.Option(help="public, restricted or non-public.")] = None,
    purpose: Annotated[Optional[str], typer.Option(help="Research purpose the DUO codes must allow: GRU, HMB, DS, POA.")] = None,
    purpose_disease: Annotated[Optional[list[str]], typer.Option(help="For DS: the disease studied.")] = None,
    commercial: Annotated[bool, typer.Option(help="The use is commercial.")] = False,
    min_individuals: Optional[int] = None,
    max_individuals: Optional[int] = None,
    page: int = 1,
    per_page: int = 20,
    ca: Ca = None,
    as_json: AsJson = False,
) -> None:
    """Search datasets with full text and facets; prints one page and the facet counts."""
    import pandas as pd

    from oncofed.client.federation import Federation

    with Federation(hub, token, ca=ca) as fed:
        df = fed.datasets(q, cancer=cancer or (), data_type=data_type or (), country=country or (),
                          access=access or (), purpose=purpose, purpose_disease=purpose_disease or (),
                          commercial=commercial, min_individuals=min_individuals, max_individuals=max_individuals,
                          page=page, per_page=per_page)
    if as_json:
        _print_json({**{k: df.attrs[k] for k in ("total", "page", "per_page", "facets")},
                     "datasets": df.reset_index().to_dict(orient="records")})
        return
    t = Table("dataset", "title", "individuals", "cancer", "countries", "access", "DUO",
              title=f"{df.attrs['total']} datasets (page {page})")
    for dataset_id, r in df.iterrows():
        t.add_row(dataset_id + (" [stale]" if r["stale"] else ""), r["title"],
                  "withheld" if pd.isna(r["individuals"]) else f"{int(r['individuals']):,}",
                  ", ".join(r["cancer_types"]), ", ".join(r["countries"]), str(r["access"]), ", ".join(r["duo"]))
    out.print(t)
    for name, values in df.attrs["facets"].items():
        shown = ", ".join(f"{v['label']} ({v['count']})" for v in values if v["count"])
        if shown:
            out.print(f"[bold]{name}[/]: {shown}", soft_wrap=True, highlight=False)


# demo -----------------------------------------------------------------------------------


@_command(app, "demo")
def demo(
    folder: Annotated[Optional[Path], typer.Option(
        "--dir", help="Where the demo lives (recreated); default .demo, or a temporary folder with --smoke.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="The demo data folder (default: the repository's data/).")] = None,
    port: Annotated[Optional[int], typer.Option(
        help="The hub's port (default 8700, or any free one with --smoke; 0: any free one).")] = None,
    smoke: Annotated[bool, typer.Option(
        "--smoke", help="Run a researcher's scripted session against the demo, then stop; exit 1 if a step fails.")] = False,
    build_only: Annotated[bool, typer.Option(
        "--build-only", help="Only build the nodes and show what they hold; start nothing.")] = False,
    as_json: AsJson = False,
) -> None:
    """A live demo federation on this machine: a hub and three nodes (DE, FR direct; NL over the
    relay) with real public cancer cohorts and tumour/normal variants, the catalogue harvested and
    demo logins made. Runs until Ctrl-C and leaves nothing running behind."""
    import tempfile

    from oncofed import demo as demo_mod

    data = data or demo_mod.DATA
    if build_only:
        folder = folder or Path(demo_mod.DEFAULT_DIR)
        homes = demo_mod.build(folder, data)
        rows = demo_mod.holdings(homes)
        _show_holdings(rows, as_json)
        if not as_json:
            out.print(f"The nodes are in {folder}/; look closer with: oncofed node show {homes[-1].path} "
                      f"{rows[-1]['dataset']}", soft_wrap=True)
        return
    scratch = tempfile.TemporaryDirectory(prefix="oncofed-demo-") if smoke and folder is None else None
    folder = Path(scratch.name) if scratch else folder or Path(demo_mod.DEFAULT_DIR)
    port = port if port is not None else (0 if smoke else 8700)
    code = 0
    try:
        with demo_mod.interruptible():
            with err.status("building the demo nodes and starting the federation…", spinner="dots"):
                live = demo_mod.start(folder, data, port=port or None)
            try:
                if smoke:
                    code = _smoke(live, as_json)
                else:
                    _show_demo(live, as_json)
                    problem = demo_mod.serve(live)
                    if problem:
                        err.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
                        code = 1
                    else:
                        err.print("stopping the demo…")
            finally:
                live.stop()
    except KeyboardInterrupt:
        err.print("demo stopped")
    finally:
        if scratch is not None:
            scratch.cleanup()
    raise typer.Exit(code)


def _show_holdings(rows: list[dict], as_json: bool) -> None:
    if as_json:
        _print_json(rows)
        return
    t = Table("node", "country", "dataset", "individuals", "records", "version", title="oncofed demo nodes")
    for r in rows:
        node = r["node"] + (" (relay)" if r.get("transport") == "relay" else "")
        t.add_row(node, r["country"], r["dataset"], f"{r['individuals']:,}", f"{r['records']:,}",
                  f"{r['version']} · {(r['content_hash'] or '')[7:15]}")
    out.print(t)


def _show_demo(live, as_json: bool) -> None:
    logins = {role: {"user": x.user, "name": x.name, "scope": x.scope, "token": x.token}
              for role, x in live.logins.items()}
    if as_json:
        _print_json({"hub_url": live.hub_url, "portal": live.hub_url + "/", "folder": str(live.folder),
                     "logins": logins, "nodes": live.holdings()})
        return
    _show_holdings(live.holdings(), False)
    out.print(f"\n[bold]oncofed demo is running[/] (folder {live.folder})", highlight=False)
    out.print(f"  portal: [bold]{live.hub_url}/[/]", highlight=False)
    what = {"researcher": "researcher", "dac": "DAC member of {scope}", "steward": "steward of node {scope}"}
    for role, login in live.logins.items():
        out.print(f"  sign in as {what[role].format(scope=login.scope)} ({login.name}) with the token:\n    {login.token}",
                  highlight=False, soft_wrap=True)
    out.print(f"  in a notebook: Federation.connect_demo()  ·  on the command line: "
              f"export ONCOFED_HUB={live.hub_url} ONCOFED_TOKEN=<the researcher's token>", highlight=False, soft_wrap=True)
    out.print("Press Ctrl-C to stop the demo.")


def _smoke(live, as_json: bool) -> int:
    from oncofed import demo as demo_mod

    def said(step) -> None:
        if not as_json:
            mark = "[green]ok[/]  " if step.ok else "[bold red]FAIL[/]"
            out.print(f"{mark} {step.name:<17} {step.said}  [dim]({step.seconds:.1f} s)[/]", highlight=False,
                      soft_wrap=True)

    steps = demo_mod.smoke(live, said)
    failed = [s for s in steps if not s.ok]
    if as_json:
        _print_json({"ok": not failed, "steps": [asdict(s) for s in steps]})
    else:
        out.print(f"smoke: {len(steps) - len(failed)} of {len(steps)} steps gave the expected answer")
    return 1 if failed else 0


# identity and access ------------------------------------------------------------------------


@_command(hub_app, "identity")
def hub_identity(
    path: HubPath,
    url: Annotated[Optional[str], typer.Option(help="The hub's public base URL: the issuer of its visas.")] = None,
    as_json: AsJson = False,
) -> None:
    """Show the hub's identity settings (identity.yaml); --url sets its public URL."""
    from oncofed.hub import home, identity

    h = home.load(path)
    config = identity.load_config(h.path)
    if url is not None:
        try:
            config = identity.IdentityConfig.model_validate(config.model_dump() | {"url": url})
        except ValueError as e:
            raise OncofedError(f"--url: {e}") from None
        identity.save_config(h.path, config)
    if as_json:
        _print_json(config.model_dump(mode="json"))
        return
    out.print(f"public URL: {config.url or '(not set: the hub cannot sign visas)'}")
    for i in config.issuers:
        out.print(f"external issuer {i.issuer} (audience {i.audience}, keys {i.jwks_uri or 'inline'})")


@_command(hub_app, "issuer")
def hub_issuer(
    path: HubPath,
    issuer: Annotated[str, typer.Argument(help="The external OIDC issuer (its `iss`).")],
    audience: Annotated[Optional[str], typer.Option(help="The `aud` its tokens carry for this hub.")] = None,
    jwks_uri: Annotated[Optional[str], typer.Option(help="Where it publishes its keys.")] = None,
    jwks: Annotated[Optional[Path], typer.Option(help="A JWKS file with its keys, instead of --jwks-uri.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Stop accepting its tokens.")] = False,
) -> None:
    """Accept (or, with --remove, stop accepting) researcher tokens of an external OIDC issuer."""
    from oncofed.auth import oidc
    from oncofed.hub import home, identity

    h = home.load(path)
    config = identity.load_config(h.path)
    others = [i for i in config.issuers if i.issuer != issuer]
    if remove:
        if len(others) == len(config.issuers):
            raise OncofedError(f"{issuer} is not an accepted issuer")
        identity.save_config(h.path, config.model_copy(update={"issuers": others}))
        out.print(f"tokens of {issuer} are no longer accepted")
        return
    if audience is None:
        raise OncofedError("give --audience: the `aud` this issuer's tokens carry for this hub")
    try:
        inline = json.loads(jwks.read_text())["keys"] if jwks else []
        added = oidc.Issuer(issuer=issuer, audience=audience, jwks_uri=jwks_uri, keys=inline)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise OncofedError(f"cannot accept {issuer}: {e}") from None
    identity.save_config(h.path, config.model_copy(update={"issuers": [*others, added]}))
    out.print(f"tokens of {issuer} for audience {audience} are accepted")


@_command(hub_app, "visa-trust")
def hub_visa_trust(path: HubPath, db: HubDb = None) -> None:
    """Print (JSON) what a node must trust to believe this hub's permits: hand it to node stewards."""
    from oncofed.hub import identity

    h, store = _hub_store(path, db)
    try:
        ident = identity.HubIdentity(h, store)
        try:
            _print_json(ident.trust().model_dump())
        finally:
            ident.close()
    finally:
        store.dispose()


@_command(user_app, "role")
def hub_user_role(
    path: HubPath,
    user: Annotated[str, typer.Argument(help="The user's id.")],
    role: Annotated[str, typer.Argument(help="dac, steward or admin (every user is a researcher).")],
    scope: Annotated[Optional[str], typer.Argument(help="dac: NODE/DATASET; steward: NODE; admin: none.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Take the role away.")] = False,
    db: HubDb = None,
    as_json: AsJson = False,
) -> None:
    """Give a user a role: a dataset's DAC member, a node's steward, or hub admin."""
    from oncofed.hub.identity import Identities

    _, store = _hub_store(path, db)
    try:
        identities = Identities(store)
        if remove:
            if not identities.remove(user, role, scope):
                raise OncofedError(f"{user} does not hold {role} {scope or ''}".rstrip())
        else:
            identities.grant(user, role, scope)
        held = sorted(identities.roles(user))
    finally:
        store.dispose()
    if as_json:
        _print_json({"user": user, "roles": [{"role": r, "scope": s or None} for r, s in held]})
        return
    out.print(f"{user}: researcher" + "".join(f", {r}" + (f" {s}" if s else "") for r, s in held))


access_app = typer.Typer(help="Request access to datasets; decide as a data access committee.", no_args_is_help=True)
app.add_typer(access_app, name="access")


def _access(hub: str, token: str, ca: Path | None, method: str, route: str, body: dict | None = None,
            **params) -> object:
    """One call to the hub's access API; its error message as an OncofedError."""
    import httpx

    from oncofed import tls
    from oncofed.web import client

    try:
        with client(ca, timeout=60) as c:
            r = c.request(method, hub.rstrip("/") + route, json=body, headers={"Authorization": f"Bearer {token}"},
                          params={k: v for k, v in params.items() if v is not None})
    except httpx.HTTPError as e:
        raise OncofedError(f"cannot reach the hub at {hub}: {tls.failure(e, 'the hub') or e}") from None
    try:
        data = r.json()
    except ValueError:
        raise OncofedError(f"the hub answered {r.status_code} without JSON") from None
    if r.status_code >= 400:
        raise OncofedError(data.get("error", r.text) if isinstance(data, dict) else r.text)
    return data


def _show_request(r: dict, as_json: bool) -> None:
    if as_json:
        _print_json(r)
        return
    p = r["purpose"]
    out.print(f"[bold]request {r['id']}[/] by {r['requester']}, {r['created_at'][:19]}", highlight=False)
    out.print(f"purpose: {p['code']}" + (f" ({', '.join(p['diseases'])})" if p["diseases"] else "")
              + f" — {p['text']}", highlight=False, soft_wrap=True)
    t = Table("item", "dataset", "state", "permit until", "history")
    for i in r["items"]:
        history = "\n".join(f"{e['at'][:19]} {e['actor']}: {e['from'] or '–'} → {e['to']}"
                            + (f" ({e['note']})" if e["note"] else "") for e in i["history"])
        t.add_row(i["id"], f"{i['node']}/{i['dataset']}", i["state"], (i["permit_expires_at"] or "–")[:19], history)
    out.print(t)


@_command(access_app, "request")
def access_request(
    hub: Hub, token: Token,
    dataset: Annotated[list[str], typer.Option("--dataset", help="NODE/DATASET; repeatable: one request for all.")],
    purpose: Annotated[str, typer.Option(help="Research purpose: GRU, HMB, DS or POA (or its DUO code).")],
    text: Annotated[str, typer.Option(help="Your project, in your own words, for the DACs.")],
    disease: Annotated[Optional[list[str]], typer.Option(help="For DS: the disease studied (CURIE); repeatable.")] = None,
    commercial: Annotated[bool, typer.Option(help="The use is commercial.")] = False,
    methods: Annotated[bool, typer.Option(help="The work develops methods.")] = False,
    genetic: Annotated[bool, typer.Option(help="The work is a genetic study.")] = False,
    ca: Ca = None,
    as_json: AsJson = False,
) -> None:
    """Ask for access to one or many datasets across nodes in one request."""
    body = {"datasets": dataset, "purpose": {"code": purpose, "diseases": disease or [], "commercial": commercial,
                                             "methods": methods, "genetic": genetic, "text": text}}
    r = _access(hub, token, ca, "POST", "/api/access/requests", body)
    _show_request(r, as_json)


@_command(access_app, "list")
def access_list(
    hub: Hub, token: Token,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own requests.")] = False,
    state: Annotated[Optional[str], typer.Option(help="Only requests with an item in this state.")] = None,
    ca: Ca = None,
    as_json: AsJson = False,
) -> None:
    """Your requests, and those you decide on (DAC), watch (steward) or oversee (admin)."""
    found = _access(hub, token, ca, "GET", "/api/access/requests", mine=str(mine).lower(), state=state)
    if as_json:
        _print_json(found)
        return
    t = Table("request", "requester", "created", "purpose", "datasets")
    for r in found:
        t.add_row(r["id"], r["requester"], r["created_at"][:19], r["purpose"]["code"],
                  "\n".join(f"{i['node']}/{i['dataset']}: {i['state']} ({i['id']})" for i in r["items"]))
    out.print(t)


@_command(access_app, "show")
def access_show(request: Annotated[str, typer.Argument(help="The request's id.")], hub: Hub, token: Token,
                ca: Ca = None, as_json: AsJson = False) -> None:
    """A request, each dataset's state and every step taken (who, when, from → to, note)."""
    r = _access(hub, token, ca, "GET", f"/api/access/requests/{request}")
    _show_request(r, as_json)


@_command(access_app, "decide")
def access_decide(
    item: Annotated[str, typer.Argument(help="The item (one dataset of a request).")],
    action: Annotated[str, typer.Argument(help="DAC: approve, reject, ask; requester: answer, withdraw.")],
    hub: Hub, token: Token,
    note: Annotated[Optional[str], typer.Option(help="Reason (reject), question (ask) or answer (answer).")] = None,
    days: Annotated[int, typer.Option(help="approve: how many days the permit lasts.")] = 365,
    ca: Ca = None,
    as_json: AsJson = False,
) -> None:
    """Take one step on one dataset of a request."""
    r = _access(hub, token, ca, "POST", f"/api/access/items/{item}/decisions", {"action": action, "note": note, "days": days})
    _show_request(r, as_json)


@_command(access_app, "revoke")
def access_revoke(
    item: Annotated[str, typer.Argument(help="The approved item whose permit ends now.")],
    hub: Hub, token: Token,
    note: Annotated[str, typer.Option(help="Why the permit is revoked.")],
    ca: Ca = None,
    as_json: AsJson = False,
) -> None:
    """Revoke a permit (DAC or hub admin): nodes stop honouring it once they fetch the revocation list."""
    r = _access(hub, token, ca, "POST", f"/api/access/items/{item}/decisions", {"action": "revoke", "note": note})
    _show_request(r, as_json)


@_command(access_app, "passport")
def access_passport(hub: Hub, token: Token, ca: Ca = None, as_json: AsJson = False) -> None:
    """Print a GA4GH Passport carrying your permits in force (a credential: keep it to yourself)."""
    answer = _access(hub, token, ca, "GET", "/api/access/passport")
    if as_json:
        _print_json(answer)
        return
    out.print(answer["passport"], soft_wrap=True)
