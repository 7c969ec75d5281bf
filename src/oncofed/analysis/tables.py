"""Result tables as JSON that turn back into the DataFrames a lifelines or statsmodels user
knows (``summary`` of a Cox or GLM fit), so results compare side by side."""

from __future__ import annotations

import pandas as pd


def to_json(df: pd.DataFrame) -> dict:
    """pandas' 'split' form (values as Python ints, floats, strings, None), with the index name."""
    return {"index_name": df.index.name, **df.to_dict(orient="split")}


def to_frame(data: dict) -> pd.DataFrame:
    df = pd.DataFrame(data["data"], index=data["index"], columns=data["columns"])
    df.index.name = data["index_name"]
    return df
