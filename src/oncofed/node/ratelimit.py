"""How often one caller may ask this node: a token bucket per caller (a researcher, or the
address of an anonymous one), so that no one can wear the guard down by sheer repetition or
crowd out the others. The limits are node settings (``node.yaml`` ``rate``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from pydantic import BaseModel, ConfigDict, Field

MAX_CALLERS = 100_000  # buckets kept; the least recently seen caller is forgotten first (and starts full)


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_minute: float = Field(6000, gt=0, description="requests a caller may make per minute, on average")
    burst: int = Field(1000, ge=1, description="requests a caller may make at once after a quiet spell")


class RateLimited(Exception):
    def __init__(self, retry_after_s: float):
        self.retry_after_s = retry_after_s
        super().__init__(f"too many requests from you to this node; try again in {retry_after_s:.1f} s")


class Buckets:
    def __init__(self, limit: RateLimit, clock=time.monotonic):
        self.limit, self.clock = limit, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # caller → (tokens, at)
        self._lock = threading.Lock()

    def take(self, caller: str) -> None:
        """Count one request of ``caller``; RateLimited (with when to retry) if over the limit."""
        rate = self.limit.per_minute / 60.0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.pop(caller, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                raise RateLimited((1.0 - tokens) / rate)
            self._buckets[caller] = (tokens - 1.0, now)
            while len(self._buckets) > MAX_CALLERS:
                self._buckets.popitem(last=False)
