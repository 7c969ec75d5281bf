import contextlib
import hashlib
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy
from typer.testing import CliRunner

from oncofed.cli import app
from oncofed.node import home

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
# The official specification files, beside the repository as ../shared (CI lays it there).
CONFORMANCE = Path(os.environ.get("ONCOFED_CONFORMANCE", REPO.parent / "shared" / "conformance"))


def pytest_configure(config):
    if not CONFORMANCE.is_dir():
        raise pytest.UsageError(f"conformance files not found at {CONFORMANCE}: "
                                "check out ../shared beside the repository or set ONCOFED_CONFORMANCE")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def node(tmp_path):
    """A fresh node with one empty dataset, 'ds'."""
    h = home.init(tmp_path / "node", "test-node", "DE")
    with h.store() as store:
        store.add_dataset("ds", "Test dataset")
    return h


class Cli:
    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: object, ok: bool = True):
        result = self.runner.invoke(app, [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        if ok and result.exit_code != 0:
            raise AssertionError(f"oncofed {' '.join(map(str, args))} failed ({result.exit_code}):\n{result.output}")
        return result


@pytest.fixture
def cli():
    return Cli()


PG_URL = os.environ.get("ONCOFED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        engine = sqlalchemy.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def database(kind: str, folder):
    """A hub database URL: a SQLite file in ``folder``, or a fresh schema in the test PostgreSQL
    (skipped when there is none, except under CI, where it must be there)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'hub.db'}"
        return
    if not _pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL}, and CI needs it")
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        c.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as c:
            c.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db(request, tmp_path):
    with database(request.param, tmp_path) as url:
        yield url
