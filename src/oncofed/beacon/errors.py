"""The one error a Beacon request can end in, as the Beacon error response states it."""

from __future__ import annotations

from oncofed.errors import OncofedError


class BeaconError(OncofedError):
    """A request the Beacon cannot answer: ``status`` is the HTTP status and the response's
    ``errorCode``; the message names the field or term at fault so the caller can fix it."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
