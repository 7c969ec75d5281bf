"""Does a dataset's data-use conditions (GA4GH DUO codes) allow a requested research purpose?

A simple, conservative matching for catalogue search; the access workflow may refine it, but
never in the permissive direction. The rules:

1. Permission. The purpose is one DUO permission (GRU, HMB, DS, POA). It is allowed by a
   dataset permission that is the same term or an ancestor of it in DUO's hierarchy
   (GRU ⊃ HMB ⊃ DS, GRU ⊃ POA), or by "no restriction". A dataset without any permission
   code allows nothing: the catalogue cannot say what its consent covers.
2. Disease-specific research. A DS dataset lists the diseases its consent covers; a purpose
   under DS must name diseases, each equal to or below one of them in the vocabulary
   (``model.vocabulary``). A DS dataset naming no disease allows no purpose under DS.
3. Restricting modifiers: non-commercial / not-for-profit (DUO:0000018, 0000045, 0000046)
   refuse commercial use; no methods research (0000015) refuses methods development; genetic
   studies only (0000016) refuses non-genetic studies; ancestry research prohibited (0000044)
   refuses POA; clinical care use (0000043) is needed for a clinical-care purpose.
4. Requirements (publication, collaboration, ethics approval, geography, moratorium, time
   limit, user/project/institution, return of results) do not decide the match; they come
   back as ``conditions`` the requester must meet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from oncofed.errors import OncofedError
from oncofed.model import vocabulary

NO_RESTRICTION = "DUO:0000004"
GRU, HMB, DS, POA = "DUO:0000042", "DUO:0000006", "DUO:0000007", "DUO:0000011"
PURPOSES = {"GRU": GRU, "HMB": HMB, "DS": DS, "POA": POA}
NON_COMMERCIAL = ("DUO:0000018", "DUO:0000045", "DUO:0000046")
NO_METHODS, GENETIC_ONLY, CLINICAL_CARE, NO_ANCESTRY = "DUO:0000015", "DUO:0000016", "DUO:0000043", "DUO:0000044"
PERMISSIONS = frozenset(vocabulary.group("duo_permission"))
MODIFIERS = frozenset(vocabulary.group("duo_modifier"))
# Modifiers that decide a match (rule 3); every other modifier is a requirement (rule 4).
DECIDING = frozenset({*NON_COMMERCIAL, NO_METHODS, GENETIC_ONLY, CLINICAL_CARE, NO_ANCESTRY})


class DuoError(OncofedError):
    pass


@dataclass(frozen=True)
class Purpose:
    """What a researcher wants to do with the data."""

    code: str  # a DUO permission (GRU, HMB, DS or POA)
    diseases: tuple[str, ...] = ()  # for disease-specific research: the diseases studied (CURIEs)
    commercial: bool = False  # for-profit use or a for-profit organisation
    methods: bool = False  # methods development (software, algorithms)
    genetic: bool = False  # a genetic study (genotype with or without phenotype)
    clinical_care: bool = False


@dataclass(frozen=True)
class Match:
    allowed: bool
    reasons: tuple[str, ...] = ()  # why not, when not allowed
    conditions: tuple[str, ...] = ()  # requirements the requester must meet


def purpose(code: str, diseases: Iterable[str] = (), **flags: bool) -> Purpose:
    """A Purpose from a DUO code or its shorthand ('HMB'), checked."""
    resolved = PURPOSES.get(code.upper(), code)
    if resolved not in PURPOSES.values():
        raise DuoError(f"unknown research purpose {code!r}; expected one of GRU, HMB, DS, POA "
                       f"({', '.join(PURPOSES.values())})")
    diseases = tuple(diseases)
    if resolved == DS and not diseases:
        raise DuoError("disease-specific research (DS) needs the disease studied, e.g. NCIT:C4872")
    return Purpose(resolved, diseases, **flags)


def check_codes(codes: Iterable[str]) -> list[str]:
    """The codes, or DuoError naming the first that is no known DUO permission or modifier."""
    codes = list(codes)
    for code in codes:
        if code not in PERMISSIONS and code not in MODIFIERS:
            raise DuoError(f"{code!r} is not a DUO data-use permission or modifier known here "
                           f"(see model/vocab/terms.tsv, group duo)")
    return codes


def match(wanted: Purpose, codes: Iterable[str], diseases: Iterable[str] = ()) -> Match:
    """Whether a dataset with these DUO ``codes`` (and, for DS, these consented ``diseases``)
    allows ``wanted``; see the module's rules."""
    codes = set(codes)
    reasons: list[str] = []
    permissions = codes & PERMISSIONS
    if not permissions:
        reasons.append("the dataset states no DUO data-use permission")
    elif NO_RESTRICTION not in permissions and not any(_covers(p, wanted, diseases) for p in permissions):
        reasons.append(f"{_name(wanted.code)} is not covered by the dataset's permission "
                       f"({', '.join(_name(p) for p in sorted(permissions))})")
    if wanted.commercial and codes & set(NON_COMMERCIAL):
        reasons.append("commercial use is excluded")
    if wanted.methods and NO_METHODS in codes:
        reasons.append("methods development is excluded")
    if not wanted.genetic and GENETIC_ONLY in codes:
        reasons.append("only genetic studies are allowed")
    if wanted.code == POA and NO_ANCESTRY in codes:
        reasons.append("population origins or ancestry research is excluded")
    if wanted.clinical_care and CLINICAL_CARE not in codes and NO_RESTRICTION not in codes:
        reasons.append("clinical care use is not allowed")
    conditions = tuple(_name(c) for c in sorted(codes & MODIFIERS - DECIDING))
    return Match(not reasons, tuple(reasons), conditions)


def _covers(permission: str, wanted: Purpose, diseases: Iterable[str]) -> bool:
    if wanted.code not in vocabulary.descendants(permission):
        return False
    if permission != DS:
        return True
    consented = set().union(*(vocabulary.descendants(d) for d in diseases))
    return bool(wanted.diseases) and all(d in consented for d in wanted.diseases)


def _name(code: str) -> str:
    label = vocabulary.label(code)
    return f"{code} {label}" if label else code
