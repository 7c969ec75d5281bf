"""CURIEs (``PREFIX:LOCAL``), the form of every coded value in the model."""

from __future__ import annotations

import re

PATTERN = r"[A-Za-z][A-Za-z0-9_.-]*:[^\s:][^\s]*"
_RE = re.compile(PATTERN)
EXAMPLE = "a CURIE such as NCIT:C4872"


def is_curie(value: str) -> bool:
    return bool(_RE.fullmatch(value))


def prefix(curie: str) -> str:
    return curie.split(":", 1)[0]
