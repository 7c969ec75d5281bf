"""Errors a user can act on. Each kind is its own type; the CLI and the HTTP layer turn them
into a message (exit code 1) or a 4xx, never a traceback."""

from __future__ import annotations


class OncofedError(Exception):
    """Base of every user-facing error."""


class NotANodeError(OncofedError):
    pass


class StoreError(OncofedError):
    pass


class UnknownDatasetError(OncofedError):
    def __init__(self, dataset_id: str, known: list[str]):
        self.dataset_id = dataset_id
        hint = f"known datasets: {', '.join(known)}" if known else "this node has no datasets yet"
        super().__init__(
            f"unknown dataset {dataset_id!r} ({hint}; create it with `oncofed node add-dataset`)"
        )


class IngestError(OncofedError):
    """Bad input: says where (file, line or record, field), what was expected and what was found."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        record: str | None = None,
        field: str | None = None,
        expected: str | None = None,
        got: object = None,
    ):
        self.file, self.line, self.record, self.field = file, line, record, field
        self.expected, self.got, self.reason = expected, got, message
        where = [p for p in (
            file,
            f"line {line}" if line is not None else None,
            f"record {record}" if record is not None else None,
            f"field {field!r}" if field is not None else None,
        ) if p]
        text = (", ".join(where) + ": " if where else "") + message
        if expected is not None:
            text += f"; expected {expected}"
        if got is not None:
            text += f", got {got!r}"
        super().__init__(text)
