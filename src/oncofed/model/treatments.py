"""Treatment types, and a drug's type from its ATC class: one table that every reader uses,
so that the same drug is typed alike whatever format brought it."""

from __future__ import annotations

SURGERY = "NCIT:C15329"
RADIOTHERAPY = "NCIT:C15313"
CHEMOTHERAPY = "NCIT:C15632"
HORMONE_THERAPY = "NCIT:C15445"
TARGETED_THERAPY = "ONCOFED:targeted_therapy"  # no verified NCIt code: see vocab/SOURCES.md
IMMUNOTHERAPY = "NCIT:C15262"
TYPES = frozenset({SURGERY, RADIOTHERAPY, CHEMOTHERAPY, HORMONE_THERAPY, TARGETED_THERAPY, IMMUNOTHERAPY})

# ATC class prefix → type, first match wins (L01F monoclonal antibodies are targeted, except
# the PD-1/PD-L1 inhibitors L01FF, which are immunotherapy).
_ATC = (("L01FF", IMMUNOTHERAPY), ("L01E", TARGETED_THERAPY), ("L01F", TARGETED_THERAPY),
        ("L01", CHEMOTHERAPY), ("L02", HORMONE_THERAPY), ("L03", IMMUNOTHERAPY))


def type_of_atc(atc: str) -> str | None:
    """The treatment type of an ATC code (``L01BC02`` or ``ATC:L01BC02``); None when the drug
    is no cancer treatment class (an analgesic, an antiemetic)."""
    code = atc.removeprefix("ATC:")
    return next((t for prefix, t in _ATC if code.startswith(prefix)), None)
