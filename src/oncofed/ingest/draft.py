"""A first mapping for a clinical table, drafted from its columns, for the steward to edit
rather than write from nothing (as OHDSI's WhiteRabbit scan report starts an ETL).

The draft maps what it can recognise by a column's name and values: the patient id, sex,
age, and a survival time with its status. What it cannot know it marks ``TODO`` and leaves
valid: the disease is the general "Malignant Neoplasm" until the steward names the cancer,
a coding such as 1/2 for sex is offered with a note to check it, and every other column is
listed with its profile (type, range, missing values, most frequent values) as a commented
measurement entry to fill in. The uncommented part always loads, so
``oncofed node ingest … --dry-run`` runs on the draft at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from oncofed.errors import IngestError
from oncofed.ingest import clinical
from oncofed.ingest.mapping import Source
from oncofed.model import vocabulary

MALE, FEMALE = "NCIT:C20197", "NCIT:C16576"
DEAD, ALIVE = "NCIT:C28554", "NCIT:C37987"
OVERALL_SURVIVAL = "NCIT:C125201"
NEOPLASM = "NCIT:C9305"
_SEX_WORDS = {"m": MALE, "male": MALE, "man": MALE, "f": FEMALE, "female": FEMALE, "woman": FEMALE,
              "w": FEMALE}
_ID = {"id", "pid", "patient", "patientid", "patid", "subject", "subjectid", "caseid", "participant",
       "participantid", "recordid", "mrn"}
_AGE = {"age", "ageatdiagnosis", "agediagnosis", "agedx", "ageatdx", "numage", "ageyears"}
_SEX = {"sex", "gender", "facsex"}
_TIME = re.compile(r"^(os|surv|survival|fu|followup|death|d|r|pfs|rfs|dfs)?(time|days|months|years)$")
_EVENT = re.compile(r"^(status|event|death|dead|died|cens|censor|censored|fustat|vitalstatus|osevent|osstatus)$")
TOP = 8  # most frequent values shown per column


@dataclass(frozen=True)
class Column:
    name: str
    present: int  # rows with a value
    distinct: int
    numeric: bool  # every value present reads as a number
    low: float | None
    high: float | None
    top: list[tuple[str, int]]  # the most frequent values, with their counts

    @property
    def key(self) -> str:
        """The name as compared: lower case, letters and digits only."""
        return re.sub(r"[^a-z0-9]", "", self.name.lower())

    def values(self) -> set[str]:
        return {v for v, _ in self.top}

    def describe(self, rows: int) -> str:
        missing = rows - self.present
        kind = (f"numeric {self.low:g}–{self.high:g}" if self.numeric and self.low is not None
                else f"text, {self.distinct:,} distinct")
        shown = ", ".join(f"{v} ×{n:,}" for v, n in self.top[:TOP]) if self.distinct <= 20 or not self.numeric else ""
        return f"{kind}; {missing:,} missing" + (f"; values {shown}" if shown else "")


def profile(path: Path, delimiter: str) -> tuple[int, list[Column]]:
    """Rows, and per column what a mapping needs to know, read as the ingest reads it."""
    if not path.is_file():
        raise IngestError("no such file", file=str(path))
    table = clinical.read_table(path, delimiter, Source().missing, lambda **_: None)
    names = [n for n in table.column_names if not n.startswith("__")]
    con = duckdb.connect()
    try:
        con.register("t", table)
        columns = []
        for name in names:
            q = clinical._quote(name)
            present, distinct, numbers, low, high = con.execute(
                f"SELECT count({q}), count(DISTINCT {q}), count(TRY_CAST({q} AS DOUBLE)), "
                f"min(TRY_CAST({q} AS DOUBLE)), max(TRY_CAST({q} AS DOUBLE)) FROM t").fetchall()[0]
            top = con.execute(f"SELECT {q}, count(*) AS n FROM t WHERE {q} IS NOT NULL GROUP BY 1 "
                              f"ORDER BY n DESC, 1 LIMIT {TOP}").fetchall()
            columns.append(Column(name, present, distinct, present > 0 and numbers == present, low, high,
                                  [(str(v), n) for v, n in top]))
        return table.num_rows, columns
    finally:
        con.close()


def draft(path: Path, delimiter: str = ",") -> str:
    """The draft mapping of a CSV (or TSV) file, as YAML with comments."""
    rows, columns = profile(path, delimiter)
    used: set[str] = set()
    lines = [f"# Draft mapping for {path.name} ({rows:,} rows, {len(columns)} columns), made by "
             "`oncofed node draft-mapping`.",
             "# Check every TODO, then try it: oncofed node ingest NODE FILE --dataset D --format "
             f"{'tsv' if delimiter == chr(9) else 'csv'} --mapping THIS --dry-run"]
    if delimiter not in (",", "\t"):  # --format csv and tsv say these
        lines += ["source:", f"  delimiter: {_yaml(delimiter)}"]
    lines.append("individuals:")
    pid = next((c for c in columns if c.key in _ID and c.distinct == c.present == rows), None)
    if pid:
        used.add(pid.name)
        lines.append(f"  id: {{column: {_yaml(pid.name)}}}   # pseudonymised at ingest; never stored as it is")
    else:
        repeated = next((c for c in columns if c.key in _ID), None)
        why = (f"{repeated.name!r} repeats ({repeated.distinct:,} values in {rows:,} rows): several rows per patient "
               "need a `when` per entry, see the colon cohort's mapping" if repeated
               else "no column identifies each row's patient")
        lines.append(f"  id: {{row_number: true}}   # TODO {why}; rows are numbered")
    sex = next((c for c in columns if c.key in _SEX), None)
    if sex:
        used.add(sex.name)
        lines += _sex(sex)
    time, event = _survival(columns)
    if time and event:
        used |= {time.name, event.name}
        event_map, note = _event_map(event)
        lines.append(f"  followup_days: {{column: {_yaml(time.name)}, unit: d}}   # TODO the unit: d, wk, mo or a")
        lines.append(f"  vital_status: {{column: {_yaml(event.name)}, map: "
                     f"{_flow({k: DEAD if v else ALIVE for k, v in event_map.items()})}}}   # {note}")
    age = next((c for c in columns if c.key in _AGE and c.numeric), None)
    lines += ["diseases:",
              f"  - code: {{value: {_yaml(NEOPLASM)}}}   # TODO the cancer: an NCIt or ICD-O-3 code, e.g. "
              "NCIT:C4872 breast carcinoma"]
    if age:
        used.add(age.name)
        lines.append(f"    age_at_diagnosis: {{column: {_yaml(age.name)}, unit: a}}   # TODO age at diagnosis?")
    if time and event:
        lines += ["outcomes:",
                  f"  - endpoint: {{value: {_yaml(OVERALL_SURVIVAL)}}}   # {vocabulary.label(OVERALL_SURVIVAL)}; "
                  "TODO or another endpoint",
                  f"    days: {{column: {_yaml(time.name)}, unit: d}}",
                  f"    event: {{column: {_yaml(event.name)}, map: {_flow(event_map)}}}"]
    rest = [c for c in columns if c.name not in used]
    if rest:
        lines += ["# Columns not mapped yet: each could be a measurement (a LOINC or NCIt code), a treatment or",
                  "# a disease detail (stage, grade). Uncomment and fill in what should be shared.",
                  "# measurements:"]
        for c in rest:
            lines += [f"#   - code: {{value: \"TODO\"}}   # {c.name}: {c.describe(rows)}",
                      f"#     value: {{column: {_yaml(c.name)}}}" if c.numeric
                      else f"#     value_code: {{column: {_yaml(c.name)}, map: {{}}}}",
                      f"#     when: {_yaml(clinical._quote(c.name) + ' IS NOT NULL')}"]
    return "\n".join(lines) + "\n"


def _sex(c: Column) -> list[str]:
    words = {v: _SEX_WORDS.get(v.strip().lower()) for v in c.values()}
    if c.distinct <= len(c.top) and all(words.values()):
        return [f"  sex: {{column: {_yaml(c.name)}, map: {_flow(words)}}}"]
    if c.values() <= {"1", "2"}:
        return [f"  sex: {{column: {_yaml(c.name)}, map: {_flow({'1': MALE, '2': FEMALE})}}}"
                "   # TODO check: 1 male, 2 female is common, not a rule"]
    # a map missing a value would refuse the ingest: left for the steward, commented out
    guessed = {v: code or "TODO" for v, code in sorted(words.items())}
    return [f"  # sex: {{column: {_yaml(c.name)}, map: {_flow(guessed)}}}   # TODO which value is which sex?"]


def _survival(columns: list[Column]) -> tuple[Column | None, Column | None]:
    """A survival time and its status: the only candidates, or a pair sharing a first letter
    (``dtime`` with ``death``)."""
    times = [c for c in columns if c.numeric and c.low is not None and c.low >= 0 and _TIME.match(c.key)
             and c.key not in _AGE]
    events = [c for c in columns if c.distinct == 2 and _EVENT.match(c.key)]
    if len(times) == 1 and len(events) == 1:
        return times[0], events[0]
    pairs = [(t, e) for t in times for e in events if t.key[0] == e.key[0]]
    return pairs[0] if len(pairs) == 1 else (None, None)


def _event_map(c: Column) -> tuple[dict[str, bool], str]:
    values = c.values()
    if values == {"0", "1"}:
        return {"1": True, "0": False}, "TODO check: 1 the event (death), 0 censored"
    if values == {"1", "2"}:
        return {"2": True, "1": False}, "TODO check: 2 the event, 1 censored (R's survival coding)"
    first, second = sorted(values)
    return {first: True, second: False}, f"TODO which of {first!r} and {second!r} is the event?"


def _flow(mapping: dict) -> str:
    return "{" + ", ".join(f"{_yaml(k)}: {_yaml(v)}" for k, v in mapping.items()) + "}"


def _yaml(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 16).strip().removesuffix("\n...").strip()

