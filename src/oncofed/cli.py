"""The one `oncofed` command. Thin: parse, call the library, print (a table, or JSON with --json)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

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
) -> None:
    """Create a node: its folder, configuration, pseudonymisation secret and empty store."""
    from oncofed.node import home

    h = home.init(path, name, country)
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
) -> None:
    """Register a dataset on the node, ready for ingest."""
    from oncofed.node import home

    with home.load(path).store() as store:
        d = store.add_dataset(dataset, title, description=description, duo=duo, licence=licence, contact=contact)
    out.print(f"dataset [bold]{d.id}[/] added")


@_command(node_app, "datasets")
def node_datasets(path: NodePath, as_json: AsJson = False) -> None:
    """List the node's datasets with their current version."""
    from oncofed.node import home

    with home.load(path).store(read_only=True) as store:
        rows = [(d, store.counts(d.id)["individuals"]) for d in store.datasets()]
    if as_json:
        _print_json([{**asdict(d), "individuals": n} for d, n in rows])
        return
    t = Table("dataset", "title", "version", "individuals", "content hash")
    for d, n in rows:
        t.add_row(d.id, d.title, str(d.version or "–"), str(n), (d.content_hash or "–")[:23])
    out.print(t)


@_command(node_app, "show")
def node_show(path: NodePath, dataset: str, as_json: AsJson = False) -> None:
    """A dataset's records per table, and its versions with their hashes and sources."""
    from oncofed.node import home

    with home.load(path).store(read_only=True) as store:
        d, counts, versions = store.dataset(dataset), store.counts(dataset), store.versions(dataset)
    if as_json:
        _print_json({**asdict(d), "counts": counts, "versions": [asdict(v) for v in versions]})
        return
    out.print(f"[bold]{d.id}[/] — {d.title}" + (f"\n{d.description}" if d.description else ""))
    t = Table("table", "records")
    for name, n in counts.items():
        if n:
            t.add_row(name, f"{n:,}")
    out.print(t)
    v = Table("version", "created", "format", "mode", "content hash", "sources")
    for x in versions:
        v.add_row(str(x.version), f"{x.created_at:%Y-%m-%d %H:%M:%S}", x.format, x.mode, x.content_hash,
                  "\n".join(f"{s['name']} (sha256:{s['sha256'][:12]}…)" for s in x.sources))
    out.print(v)


@_command(node_app, "ingest")
def node_ingest(
    path: NodePath,
    files: Annotated[list[Path], typer.Argument(help="Files or folders to read.")],
    dataset: Annotated[str, typer.Option(help="The dataset to ingest into.")],
    format: Annotated[str, typer.Option("--format", "-f", help="csv, tsv, phenopacket or fhir.")],
    mapping: Annotated[Optional[Path], typer.Option(help="YAML mapping (csv/tsv).")] = None,
    where: Annotated[Optional[str], typer.Option(help="Only rows where this SQL condition holds (csv/tsv).")] = None,
    replace: Annotated[bool, typer.Option(help="Make this input the dataset's whole content.")] = False,
    as_json: AsJson = False,
) -> None:
    """Ingest files into a dataset, all or nothing, as a new dataset version."""
    from oncofed.ingest.pipeline import ingest
    from oncofed.node import home

    h = home.load(path)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task("reading", total=None)

        def progress(advance: float = 0, total: float | None = None, description: str | None = None) -> None:
            bar.update(task, advance=advance, total=total, description=description or bar.tasks[0].description)

        result = ingest(h, dataset, format, files, mapping=mapping, where=where, replace=replace, progress=progress)
    if as_json:
        _print_json(asdict(result))
    elif result.created:
        held = ", ".join(f"{n:,} {t}" for t, n in result.counts.items() if n)
        out.print(f"[green]dataset {dataset}: version {result.version}[/] ({result.content_hash[:23]}…) holds {held}")
    else:
        out.print(f"dataset {dataset}: unchanged, the content equals version {result.version}")


@_command(node_app, "export-phenopacket")
def node_export_phenopacket(
    path: NodePath,
    dataset: str,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write one Phenopacket JSON per individual.")],
) -> None:
    """Write the dataset's individuals as GA4GH Phenopackets v2 (JSON)."""
    from oncofed.ingest import phenopacket
    from oncofed.node import home

    with home.load(path).store(read_only=True) as store:
        store.dataset(dataset)
        written = phenopacket.export_to_dir(store.con, dataset, out_dir)
    out.print(f"{len(written)} phenopackets written to {out_dir}")


# demo -----------------------------------------------------------------------------------


@_command(app, "demo")
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo nodes live (recreated).")] = Path(".demo"),
    data: Annotated[Optional[Path], typer.Option(help="The demo data folder (default: the repository's data/).")] = None,
) -> None:
    """Create three demo nodes loaded with real public cancer cohorts and show what they hold."""
    from oncofed import demo as demo_mod

    nodes = demo_mod.build(folder, data or demo_mod.DATA)
    t = Table("node", "country", "dataset", "individuals", "records", "version", title="oncofed demo nodes")
    for h in nodes:
        with h.store(read_only=True) as store:
            for d in store.datasets():
                counts = store.counts(d.id)
                t.add_row(h.config.name, h.config.country, d.id, f"{counts['individuals']:,}",
                          f"{sum(counts.values()):,}", f"{d.version} ({(d.content_hash or '')[7:19]})")
    out.print(t)
    out.print(f"The nodes are in {folder}/; look closer with: oncofed node show {h.path} {d.id}", soft_wrap=True)
