"""Fixtures: three node stores built from the real demo cohorts as data/demo.yaml splits them
(once per test session), and the pooled rows the references (lifelines, statsmodels, pandas)
run on. Test modules import the fixtures by name; this is not a conftest.py because test
modules elsewhere import the root conftest by that name."""

import duckdb
import pandas as pd
import pytest

from oncofed import demo
from oncofed.analysis.cohort import select


_built: dict[str, duckdb.DuckDBPyConnection] = {}  # each importing module has its own fixture: build once


@pytest.fixture(scope="session")
def stores(tmp_path_factory) -> dict[str, duckdb.DuckDBPyConnection]:
    if not _built:
        homes = demo.build(tmp_path_factory.mktemp("analysis") / "demo")
        _built.update({h.config.name: duckdb.connect(str(h.store_path), read_only=True) for h in homes})
    return _built


@pytest.fixture(scope="session")
def pooled(stores):
    """pooled(variables, cohort=None): every node's rows, with a ``node`` column."""

    def rows(names: list[str], cohort: dict | None = None) -> pd.DataFrame:
        frames = [select(con, node, cohort).frame(names).assign(node=node) for node, con in stores.items()]
        frames = [f.astype({c: object for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)})
                  for f in frames]
        return pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)

    return rows


def dummy_coded(rows: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """The covariates as the federated design codes them (reference = first sorted level),
    for the reference fits."""
    out = pd.DataFrame(index=rows.index)
    for name in covariates:
        if not pd.api.types.is_numeric_dtype(rows[name]):
            for level in sorted(rows[name].unique())[1:]:
                out[f"{name}[T.{level}]"] = (rows[name] == level).astype(float)
        else:
            out[name] = rows[name]
    return out
