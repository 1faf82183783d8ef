"""The SPS emulator's transaction history and the log of what SPS delivered onwards.

``GET /transactions/v5/history`` reports, per uploaded file, a ``status_log`` of ``uploaded``,
``downloaded`` and ``deleted`` events; SPS says a report may take up to about five minutes to
appear, so an event is served only once it is ``lag`` seconds old. An entry is one upload: a
path uploaded twice has two entries. ``after``/``until`` (``YYYY-MM-DDTHH:mm:ss``, read as UTC)
select entries by the time of their upload; ``offset``/``limit`` page them in upload order.

Files we upload to ``in/`` are taken by SPS and passed on to the retailer; each such pickup is
one transaction to the trading partner, which :class:`Deliveries` records so that tests and the
demo can count what a retailer would have received (the real SPS shows us no such thing).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime


def stamp(at: float) -> str:
    """An event time as SPS writes it: UTC, milliseconds, ``Z``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
    return f"{whole}.{int(at % 1 * 1000):03d}Z"


def parse_query_time(value: str) -> float:
    """Seconds since the epoch of a history ``after``/``until`` value; ValueError if malformed.
    SPS documents ``YYYY-MM-DDTHH:mm:ss`` without a zone; UTC is assumed."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass
class _Entry:
    id: str
    path: str
    direction: str
    uploaded_at: float
    events: list[tuple[str, float, str | None]] = field(default_factory=list)

    def render(self, as_of: float) -> dict | None:
        """The entry as the history endpoint shows it at ``as_of``; None before its upload shows."""
        log = []
        for status, at, message in self.events:
            if at > as_of:
                break
            event = {"status": status, "timestamp": stamp(at)}
            if status == "deleted":
                event["message"] = message
            log.append(event)
        if not log:
            return None
        return {"id": self.id, "path": self.path, "direction": self.direction, "status_log": log}


class History:
    """Every upload's status log, in upload order. Not thread-safe: the emulator's lock guards it."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._latest: dict[str, _Entry] = {}  # path -> the entry of its newest upload

    def uploaded(self, path: str, direction: str, at: float) -> None:
        entry = _Entry(str(uuid.uuid4()), path, direction, at, [("uploaded", at, None)])
        self._entries.append(entry)
        self._latest[path] = entry

    def log(self, path: str, status: str, at: float, message: str | None = None) -> None:
        self._latest[path].events.append((status, at, message))

    def rows(self, as_of: float = float("inf"), after: float | None = None, until: float | None = None) -> list[dict]:
        """The entries visible at ``as_of``, uploaded after ``after`` and up to ``until``."""
        out = []
        for entry in self._entries:
            if (after is not None and entry.uploaded_at <= after) or (until is not None and entry.uploaded_at > until):
                continue
            row = entry.render(as_of)
            if row is not None:
                out.append(row)
        return out


@dataclass(frozen=True)
class Delivery:
    """One file SPS took from ``in/`` and passed on: what the trading partner received."""

    path: str
    sha256: str
    at: float
    size: int
    # the bytes passed on, so a test reads what the retailer got (its purpose code, its lines)
    content: bytes = field(default=b"", repr=False, compare=False)


class Deliveries:
    """What SPS passed on to trading partners, in order. Guarded by the emulator's lock."""

    def __init__(self) -> None:
        self._log: list[Delivery] = []

    def record(self, path: str, content: bytes, at: float) -> None:
        self._log.append(Delivery(path, hashlib.sha256(content).hexdigest(), at, len(content), bytes(content)))

    def all(self) -> list[Delivery]:
        return list(self._log)

    def twice(self) -> dict[str, int]:
        """Paths delivered more than once, with how many times: each delivery beyond the first
        is a second transaction to the retailer (a deliberate resend of a revision counts too)."""
        counts: dict[str, int] = {}
        for d in self._log:
            counts[d.path] = counts.get(d.path, 0) + 1
        return {p: n for p, n in counts.items() if n > 1}
