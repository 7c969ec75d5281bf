"""Identifiers people type and URLs carry (node, hub, dataset ids): one rule for all."""

from __future__ import annotations

import re

SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
RULE = "1–64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"


def slugify(name: str, fallback: str) -> str:
    """An id made from a human name: 'University Hospital A' → 'university-hospital-a'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or fallback
