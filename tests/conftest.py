import hashlib
import os
from pathlib import Path

import pytest
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
