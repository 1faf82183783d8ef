"""Per-realm throttling for the QBO emulator (reference §B.10).

QBO counts per company (realm): 500 requests a minute, batch calls included; 10 concurrent
requests; 40 batch requests a minute. Over a limit it answers HTTP 429 with Fault 3001 and
documents no Retry-After header. Windows slide over the emulator's clock, so a test with a fake
clock can let a minute pass instantly.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class QboLimits:
    """The throttles; ``None`` for a field switches that one off."""

    per_minute: int | None = 500
    concurrent: int | None = 10
    batch_per_minute: int | None = 40
    window: float = 60.0

    @classmethod
    def off(cls) -> QboLimits:
        """No throttling: for volume runs that measure something else."""
        return cls(per_minute=None, concurrent=None, batch_per_minute=None)


class Throttle:
    """Sliding-window request counters and an in-flight gauge, per realm. Thread-safe."""

    def __init__(self, limits: QboLimits, clock: Callable[[], float]) -> None:
        self.limits, self.clock = limits, clock
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._batches: dict[str, deque[float]] = defaultdict(deque)
        self._inflight: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.rejected = 0

    def enter(self, realm: str) -> bool:
        """Count a request in flight; False (and not counted) when the realm is at its limit."""
        with self._lock:
            cap = self.limits.concurrent
            if cap is not None and self._inflight[realm] >= cap:
                self.rejected += 1
                return False
            self._inflight[realm] += 1
            return True

    def leave(self, realm: str) -> None:
        with self._lock:
            self._inflight[realm] -= 1

    def admit(self, realm: str, *, batch: bool) -> bool:
        """Record one request against the per-minute windows; False when over a limit."""
        with self._lock:
            now = self.clock()
            calls, batches = self._calls[realm], self._batches[realm]
            for window in (calls, batches):
                while window and window[0] <= now - self.limits.window:
                    window.popleft()
            over = self.limits.per_minute is not None and len(calls) >= self.limits.per_minute
            over_batch = batch and self.limits.batch_per_minute is not None \
                and len(batches) >= self.limits.batch_per_minute
            if over or over_batch:
                self.rejected += 1
                return False
            calls.append(now)
            if batch:
                batches.append(now)
            return True
