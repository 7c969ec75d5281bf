"""DICOM de-identification by the PS3.15 Basic Application Level Confidentiality Profile.

Every attribute of PS3.15 Table E.1-1 (``basic_profile.tsv``) gets the Basic Profile's action,
at every depth of nested sequences; private attributes, curves and overlay data go. Where the
table allows a choice (``X/Z``, ``X/D`` …) the attribute is kept present as an empty or dummy
value, which discloses nothing and keeps Type 1 and 2 attributes of the IOD in place.

UIDs (action ``U``) are replaced by ``2.25.<integer>`` UIDs (PS3.5 B.2) derived from the
original by the node's keyed pseudonym function: the same original UID always gets the same new
one within a dataset, so references between instances stay intact, and without the node secret
the mapping can neither be reversed nor recomputed from a guessed UID.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.tag import BaseTag

PROFILE = "DICOM PS3.15 Basic Application Level Confidentiality Profile"
_DUMMY_TEXT = "ANONYMIZED"
_DUMMY = {  # PS3.15 "D": a non-empty value consistent with the VR
    "DA": "19000101", "TM": "000000", "DT": "19000101000000",
    "IS": "0", "DS": "0", "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0,
    "OB": b"\0\0", "OW": b"\0\0", "OD": b"\0" * 8, "OF": b"\0" * 4, "OL": b"\0" * 4, "OV": b"\0" * 8,
    "UN": b"\0\0", "AT": 0,
}


@dataclass(frozen=True)
class Rule:
    tag: str  # "(gggg,eeee)", "x" masking a hex digit of a repeating group
    action: str
    name: str


@cache
def rules() -> tuple[Rule, ...]:
    """PS3.15 Table E.1-1, Basic Profile column (source and transcription in the file's header)."""
    text = (resources.files("oncofed") / "privacy/basic_profile.tsv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return tuple(Rule(r["tag"], r["action"], r["name"]) for r in csv.DictReader(io.StringIO("\n".join(lines)),
                                                                              delimiter="\t"))


def _hex(tag: str) -> tuple[int, int, int]:
    """(value, mask, masked digits) of a table tag."""
    digits = tag.strip("()").replace(",", "")
    value = int(digits.replace("x", "0"), 16)
    mask = int("".join("0" if c == "x" else "F" for c in digits), 16)
    return value, mask, digits.count("x")


@cache
def _actions() -> tuple[dict[int, str], list[tuple[int, int, str]]]:
    exact, masked = {}, []
    for rule in rules():
        value, mask, wild = _hex(rule.tag)
        if wild:
            masked.append((value, mask, rule.action))
        else:
            exact[value] = rule.action
    return exact, masked


def action(tag: int) -> str | None:
    """The Basic Profile's action for a tag, or None for an attribute the table does not list."""
    exact, masked = _actions()
    if tag in exact:
        return exact[tag]
    return next((a for value, mask, a in masked if tag & mask == value), None)


def listed(tag: int) -> bool:
    return action(tag) is not None


UidMap = Callable[[str], str]


def new_uid(digest_hex: str) -> str:
    """A UID under the 2.25 root (PS3.5 B.2: an integer derived from a UUID-like random value)."""
    return f"2.25.{int(digest_hex, 16)}"


def deidentify(ds: Dataset, uid: UidMap, patient: str) -> Dataset:
    """De-identify ``ds`` in place and return it. ``uid`` maps an original UID to its new one;
    ``patient`` (a pseudonym) becomes Patient ID and Patient's Name, the Basic Profile's dummy
    values for these two, so that de-identified series of one patient stay together."""
    ds.remove_private_tags()
    _apply(ds, uid)
    ds.PatientID = patient
    ds.PatientName = patient
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "DICOM PS3.15 Basic Profile (oncofed)"  # LO: at most 64 characters
    method = Dataset()
    code = codes.DCM.BasicApplicationConfidentialityProfile
    method.CodeValue, method.CodingSchemeDesignator, method.CodeMeaning = code.value, code.scheme_designator, code.meaning
    ds.DeidentificationMethodCodeSequence = Sequence([method])
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _apply(ds: Dataset, uid: UidMap) -> None:
    for tag in list(ds.keys()):
        elem = ds[tag]
        what = action(int(BaseTag(tag)))
        if elem.VR == "SQ" and what in (None, "U", "X/Z/U*"):
            for item in elem.value:  # kept: its items are de-identified (references keep new UIDs)
                _apply(item, uid)
        elif what == "X":
            del ds[tag]
        elif what in ("U", "X/Z/U*"):
            elem.value = _remap(elem.value, uid) if elem.VR == "UI" else None
        elif what in ("D", "X/D"):
            _dummy(elem, uid)
        elif what is not None:  # Z, Z/D, X/Z, X/Z/D: empty, yet present where the IOD requires it
            elem.value = Sequence() if elem.VR == "SQ" else None


def _remap(value: object, uid: UidMap) -> object:
    if isinstance(value, str):
        return uid(value) if value else value
    return [uid(str(v)) for v in value if str(v)]  # a multi-valued UI


def _dummy(elem, uid: UidMap) -> None:
    if elem.VR == "SQ":
        elem.value = Sequence()
    elif elem.VR == "UI":
        elem.value = _remap(elem.value, uid) if elem.value else uid("dummy")
    else:
        elem.value = _DUMMY.get(elem.VR, _DUMMY_TEXT)
