"""DICOM images (a folder, single files, DICOMDIR sets) as imaging studies and series, with a
de-identified copy of every instance under the node.

Each instance is read with pydicom, checked (DICOM at all, complete, a PatientID and the
study/series/instance UIDs), described (modality, body part, age, manufacturer, slice
thickness, burned-in annotation) and de-identified (``privacy.deidentify``) before anything is
kept; the copies go to ``imaging/<dataset>/<study>/<series>/`` in the node folder, named by
their new UIDs, which are also the stored study and series ids. Original identifiers, dates and
free-text descriptions are never stored: descriptions fall under the Basic Profile (removed),
and the age at the study is kept as a number of years, the model's form for points in time.

A bad file is reported with its name and what is wrong; ``--on-error refuse`` (the default,
as for every reader) refuses the whole input, ``--on-error skip`` leaves the file out and says so.
"""

from __future__ import annotations

import csv
import json
import warnings
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError

from oncofed.errors import IngestError
from oncofed.ingest.batch import Batch, SourceFile, arrow_schema
from oncofed.ingest.reader import IngestContext
from oncofed.model.schema import TABLES
from oncofed.privacy.deidentify import PROFILE, deidentify, new_uid

UNDEFINED_LENGTH = 0xFFFFFFFF
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
# Modalities whose images commonly carry burned-in text (ultrasound, secondary capture, endoscopy,
# external-camera photography, X-ray angiography and fluoroscopy screens, documents): flagged
# unless the image itself says BurnedInAnnotation NO.
BURNED_IN_MODALITIES = frozenset({"US", "SC", "ES", "XC", "XA", "RF", "OT", "DOC"})
_AGE_UNITS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


@dataclass(frozen=True)
class Instance:
    """What one de-identified instance adds to the metadata (identifiers already replaced)."""

    individual: str
    study: str
    series: str
    modality: str | None
    body_part: str | None
    age: float | None
    manufacturer: str | None
    slice_thickness: float | None
    burned_in: str  # "YES", "NO", or "SUSPECTED" by modality


def read(files: list[Path], ctx: IngestContext) -> Batch:
    paths, sources = _instances(files, ctx)
    patients = _patient_map(ctx.patients) if ctx.patients else None
    uids: dict[str, str] = {}

    def uid(original: str) -> str:
        if original not in uids:
            uids[original] = new_uid(ctx.pseudonym(original, f"{ctx.dataset_id}/dicom-uid"))
        return uids[original]

    out = ctx.staging / "imaging" / ctx.dataset_id
    ctx.progress(total=len(paths), description="de-identifying DICOM")
    instances: list[Instance] = []
    for path in paths:
        try:
            instances.append(_ingest_one(path, ctx, patients, uid, out))
            sources.append(SourceFile.of(path))
        except IngestError as e:
            ctx.skip(e)
        ctx.progress(advance=1)
    if not instances:
        raise IngestError("no readable DICOM instance in the input", file=", ".join(map(str, files)))
    tables = _tables(instances, ctx)
    _record_burned_in(instances, out, ctx)
    return Batch(tables, {}, sources)


# finding the instances -----------------------------------------------------------------------


def _instances(files: list[Path], ctx: IngestContext) -> tuple[list[Path], list[SourceFile]]:
    """Every file given or inside a given folder; a DICOMDIR contributes the files it references
    (and is itself a source, not an instance)."""
    found: list[Path] = []
    dirs: list[Path] = []
    for p in files:
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            found.append(p)
        else:
            raise IngestError("no such file or folder", file=str(p))
    instances: dict[Path, None] = {}
    for f in found:
        if _is_dicomdir(f):
            dirs.append(f)
            for ref in _referenced(f, ctx):
                instances.setdefault(ref.resolve(), None)
        else:
            instances.setdefault(f.resolve(), None)
    if not instances:
        raise IngestError("no files in the input", file=", ".join(map(str, files)))
    return list(instances), [SourceFile.of(d) for d in dirs]


def _is_dicomdir(path: Path) -> bool:
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:  # not DICOM at all: reported when read as an instance
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS


def _referenced(dicomdir: Path, ctx: IngestContext) -> list[Path]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(dicomdir)
        records = ds.DirectoryRecordSequence
    except Exception as e:
        ctx.skip(IngestError(f"not a readable DICOMDIR: {e}", file=str(dicomdir)))
        return []
    refs = []
    for rec in records:
        parts = rec.get("ReferencedFileID")
        if parts:
            parts = [parts] if isinstance(parts, str) else list(parts)
            ref = dicomdir.parent.joinpath(*parts)
            if ref.is_file():
                refs.append(ref)
            else:
                ctx.skip(IngestError("the DICOMDIR names a file that is not there", file=str(dicomdir),
                                     record=str(Path(*parts)), expected="an existing file"))
    return refs


def _patient_map(path: Path) -> dict[str, str]:
    """PatientID → source patient id, from a TSV with columns ``dicom_patient_id`` and ``patient_id``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except (OSError, UnicodeDecodeError) as e:
        raise IngestError(f"cannot read the patient map: {e}", file=str(path), field="--patients") from None
    columns = ("dicom_patient_id", "patient_id")
    if not rows or any(c not in rows[0] for c in columns):
        raise IngestError("the patient map needs a header and rows", file=str(path), line=1,
                          expected="tab-separated columns dicom_patient_id, patient_id")
    out: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        key, value = (row[c].strip() if row[c] else "" for c in columns)
        if not key or not value:
            raise IngestError("a row without both ids", file=str(path), line=line, expected="two ids")
        if out.setdefault(key, value) != value:
            raise IngestError("a PatientID mapped twice", file=str(path), line=line, field="dicom_patient_id",
                              got=key, expected="each PatientID once")
    return out


# one instance --------------------------------------------------------------------------------


def _ingest_one(path: Path, ctx: IngestContext, patients: dict[str, str] | None, uid, out: Path) -> Instance:
    where = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            short = _missing_bytes(ds, path.stat().st_size)
            if short:
                raise IngestError(f"the file is truncated: its last element needs {short} bytes more", file=where,
                                  expected="a complete DICOM file")
            ds.get("PixelData")  # reads the value: a damaged one fails here
    except InvalidDicomError:
        raise IngestError("not a DICOM file", file=where, expected="a DICOM Part 10 file (DICM preamble)") from None
    except IngestError:
        raise
    except Exception as e:  # pydicom raises many kinds on a damaged file
        raise IngestError(f"the file is damaged: {type(e).__name__}: {e}", file=where) from None
    for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not str(ds.get(keyword, "") or "").strip():
            raise IngestError(f"no {keyword}", file=where, field=keyword, expected="a value")
    source_id = str(ds.PatientID).strip()
    if patients is not None:
        if source_id not in patients:
            raise IngestError("PatientID not in the patient map", file=where, field="PatientID",
                              expected=f"a dicom_patient_id of {ctx.patients}")
        source_id = patients[source_id]
    individual = ctx.pseudonym(source_id)
    modality = _text(ds, "Modality")
    burned = _text(ds, "BurnedInAnnotation")
    if burned not in ("YES", "NO"):
        suspected = modality in BURNED_IN_MODALITIES or str(ds.get("SOPClassUID", "")) == SECONDARY_CAPTURE
        burned = "SUSPECTED" if suspected else "NO"
    facts = dict(modality=modality, body_part=_text(ds, "BodyPartExamined"), age=_age(ds),
                 manufacturer=_text(ds, "Manufacturer"), slice_thickness=_number(ds, "SliceThickness"),
                 burned_in=burned)
    deidentify(ds, uid, individual)
    study, series = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
    target = out / study / series / f"{ds.SOPInstanceUID}.dcm"
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=bool(getattr(ds, "file_meta", None)))
    return Instance(individual, study, series, **facts)


def _missing_bytes(ds, size: int) -> int:
    """How far the declared lengths of the top-level elements reach past the end of the file (a
    file cut short keeps its headers; pydicom reads what is there without complaint)."""
    ends = [raw.value_tell + raw.length for tag in ds.keys()
            if isinstance(raw := ds.get_item(tag), RawDataElement) and raw.length != UNDEFINED_LENGTH]
    return max(0, max(ends, default=0) - size)


def _text(ds, keyword: str) -> str | None:
    value = ds.get(keyword)
    return str(value).strip() or None if value is not None else None


def _number(ds, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _age(ds) -> float | None:
    """Age at the study in years: Patient's Age ("061Y"), else study date less birth date."""
    text = _text(ds, "PatientAge")
    if text and len(text) == 4 and text[:3].isdigit() and text[3] in _AGE_UNITS:
        return round(int(text[:3]) * _AGE_UNITS[text[3]], 4)
    study, birth = _text(ds, "StudyDate"), _text(ds, "PatientBirthDate")
    if study and birth and len(study) == len(birth) == 8 and study.isdigit() and birth.isdigit():
        try:
            days = (date(int(study[:4]), int(study[4:6]), int(study[6:])) -
                    date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))).days
        except ValueError:
            return None
        return round(days / 365.25, 4) if days >= 0 else None
    return None


# the metadata --------------------------------------------------------------------------------


def _first(values):
    return next((v for v in values if v is not None), None)


def _tables(instances: list[Instance], ctx: IngestContext) -> dict[str, pa.Table]:
    by_series: dict[str, list[Instance]] = defaultdict(list)
    for i in instances:
        by_series[i.series].append(i)
    series_rows, studies = [], defaultdict(list)
    for sid, group in by_series.items():
        first = group[0]
        if len({i.study for i in group}) > 1 or len({i.individual for i in group}) > 1:
            raise IngestError("instances of one series disagree on their study or patient",
                              field="SeriesInstanceUID", expected="one study and one patient per series")
        series_rows.append({
            "id": sid, "study_id": first.study, "individual_id": first.individual,
            "modality": _first(i.modality for i in group), "body_part": _first(i.body_part for i in group),
            "description": None, "image_count": len(group),
            "manufacturer": _first(i.manufacturer for i in group),
            "slice_thickness": _first(i.slice_thickness for i in group),
            "file_ref": f"imaging/{ctx.dataset_id}/{first.study}/{sid}",
        })
        studies[first.study].append((first, group))
    study_rows = []
    for stid, members in studies.items():
        if len({m[0].individual for m in members}) > 1:
            raise IngestError("series of one study belong to different patients", field="StudyInstanceUID",
                              expected="one patient per study")
        every = [i for _, group in members for i in group]
        modalities = sorted({i.modality for i in every if i.modality})
        ages = [i.age for i in every if i.age is not None]
        study_rows.append({
            "id": stid, "individual_id": members[0][0].individual,
            "modality": "\\".join(modalities) or None,  # DICOM's Modalities in Study form
            "body_part": _first(i.body_part for i in every), "age": min(ages) if ages else None,
            "description": None, "series_count": len(members),
        })
    stored = ctx.stored("individuals")
    known = set(stored.column("id").to_pylist())
    people = sorted({i.individual for i in instances})
    # An individual a clinical ingest described keeps that row; new ones get an id and nothing else.
    kept = stored.filter(pc.is_in(stored.column("id"), pa.array(people, pa.string())))
    new = pa.Table.from_pylist([{"id": p} for p in people if p not in known],
                               schema=arrow_schema(TABLES["individuals"]))
    return {
        "individuals": pa.concat_tables([kept.cast(arrow_schema(TABLES["individuals"])), new]),
        "imaging_studies": pa.Table.from_pylist(study_rows, schema=arrow_schema(TABLES["imaging_studies"])),
        "imaging_series": pa.Table.from_pylist(series_rows, schema=arrow_schema(TABLES["imaging_series"])),
    }


def _record_burned_in(instances: list[Instance], out: Path, ctx: IngestContext) -> None:
    """Beside each series' copies, how it was de-identified and whether its pixels may carry text
    the profile cannot remove (burned-in annotation); the steward hears of each suspect series."""
    by_series: dict[tuple[str, str], list[Instance]] = defaultdict(list)
    for i in instances:
        by_series[(i.study, i.series)].append(i)
    for (study, series), group in by_series.items():
        flags = {i.burned_in for i in group}
        burned = "YES" if "YES" in flags else "SUSPECTED" if "SUSPECTED" in flags else "NO"
        record = {"profile": PROFILE, "burned_in_annotation": burned,
                  "basis": "BurnedInAnnotation attribute" if burned != "SUSPECTED" else
                  f"modality {group[0].modality or 'unknown'} often carries burned-in text",
                  "pixel_data_cleaned": False, "instances": len(group)}
        (out / study / series / "deidentification.json").write_text(json.dumps(record, indent=2) + "\n")
        if burned != "NO":
            ctx.notice(f"series imaging/{ctx.dataset_id}/{study}/{series}: burned-in annotation {burned.lower()} "
                       "(pixel data is not cleaned: review before release)")
