"""Whether an upload to SPS arrived, decided without sending it twice.

SPS takes every file we upload to ``in/`` once it has processed it, removes it, and passes it on
to the trading partner: a second upload of the same path after that pickup is a second
transaction for the retailer, so an upload whose answer was lost (or whose worker died) must
not simply be sent again. What can tell (docs/sps-delivery.md has the sources):

1. the file is still in ``in/`` -> it arrived and SPS has not taken it yet;
2. the history (``GET /transactions/v5/history``) shows an ``uploaded`` event for the path at
   or after the attempt -> it arrived (and may be passed on already);
3. neither, and the history is complete past the last moment the attempt could have landed
   (reports lag up to ``history_lag()`` seconds) -> it never arrived: upload it;
4. neither, and the file was looked for sooner after the attempt than SPS ever takes a file
   (``pickup_min()``, 0 unless SPS confirms one) -> it never arrived;
5. otherwise nothing can tell yet, and uploading now could deliver it twice: wait
   (:class:`DeliveryUnknown`); the next run looks again.

If the history cannot be read at all (refused, not offered to this account), waiting cannot
help: the caller decides, and what it uploads then is "possibly delivered twice".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ... import settings
from ..errors import AuthError, NotFound, RejectedError, TransientError, keep_our_pickling

if TYPE_CHECKING:
    from .client import SpsClient

# An attempt's times (our clock) are matched with the history's timestamps (SPS's clock):
# allow this much disagreement. Much more would take an earlier upload of the same path (a
# previous revision) for this attempt's.
CLOCK_SKEW = timedelta(seconds=5)
# ``after`` is documented without a time zone; asking from this much earlier than we need
# keeps every zone SPS might mean inside the window (the timestamps in the answer carry ``Z``
# and are compared exactly).
AFTER_MARGIN = timedelta(hours=14)
HISTORY_PAGE = 100  # the documented default limit: a larger one may be refused
MAX_HISTORY_PAGES = 1000


def history_lag() -> float:
    """How many seconds after an upload, by our clock, SPS's history is sure to show it
    (``ML_CONNECTOR_SPS_HISTORY_LAG``, default 330: SPS says a report may take up to five
    minutes; 30 s more for the two clocks and the time an answer takes)."""
    return settings.sps_history_lag()


def pickup_min() -> float:
    """The fewest seconds SPS leaves an uploaded file in ``in/`` before taking it
    (``ML_CONNECTOR_SPS_PICKUP_MIN``, default 0: SPS publishes none, so a file may be gone at
    once). A file found absent sooner than this after an attempt never arrived."""
    return settings.sps_pickup_min()


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one (SQLite returns them) is taken as UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Attempt:
    """An upload of ``path`` that may have landed at any time from ``since`` to ``until``."""

    path: str
    since: datetime
    until: datetime


class Verdict(StrEnum):
    PRESENT = "present"  # still in in/: arrived, not taken yet
    DELIVERED = "delivered"  # in the history after the attempt: arrived
    ABSENT = "absent"  # never arrived: uploading is safe
    UNKNOWN = "unknown"  # cannot tell yet
    UNREADABLE = "unreadable"  # cannot tell, and the history will not say: waiting cannot help

    @property
    def arrived(self) -> bool:
        return self in (Verdict.PRESENT, Verdict.DELIVERED)


class DeliveryUnknown(TransientError):
    """An upload may have reached SPS and nothing can tell yet whether it did; sending it
    again now could make a second transaction. Its message carries the attempt's window, which
    the ledger keeps as the reason (:func:`attempt_from_reason` reads it back)."""

    classification = "delivery_unknown"

    def __init__(self, message: str, *, attempt: Attempt | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.attempt = attempt

    @classmethod
    def of(cls, attempt: Attempt, why: str = "") -> DeliveryUnknown:
        message = (f"delivery unknown until SPS history catches up: {attempt.path} may have reached SPS "
                   f"between {attempt.since.isoformat()} and {attempt.until.isoformat()}")
        return cls(message + (f" ({why})" if why else ""), attempt=attempt, system="sps", operation="put")


keep_our_pickling()  # a subclass defined after errors.py registered the tree

_WINDOW = re.compile(r"may have reached SPS between (\S+) and (\S+)")


def attempt_from_reason(path: str, reason: str | None) -> Attempt | None:
    """The attempt a :class:`DeliveryUnknown` reason stored in the ledger describes."""
    match = _WINDOW.search(reason or "")
    if not match:
        return None
    try:
        return Attempt(path, aware(datetime.fromisoformat(match[1])), aware(datetime.fromisoformat(match[2])))
    except ValueError:
        return None


def find(client: SpsClient, attempts: Iterable[Attempt], *, lag: float | None = None,
         pickup: float | None = None) -> dict[str, Verdict]:
    """Which of ``attempts`` arrived, never arrived, or cannot be told yet (one per path; the
    presence check and the history walk are shared by all of them)."""
    wanted: dict[str, Attempt] = {}
    for a in attempts:
        known = wanted.get(a.path)
        wanted[a.path] = a if known is None else Attempt(a.path, min(a.since, known.since), max(a.until, known.until))
    if not wanted:
        return {}
    lag = history_lag() if lag is None else lag
    pickup = pickup_min() if pickup is None else pickup
    present = client.present(wanted)
    looked = utcnow()
    verdicts = {p: Verdict.PRESENT for p in present}
    rest = {p: a for p, a in wanted.items() if p not in present}
    if not rest:
        return verdicts
    started = utcnow()
    try:
        landed = uploads_after(client, set(rest), min(a.since for a in rest.values()) - CLOCK_SKEW)
    except (AuthError, NotFound, RejectedError):
        return verdicts | dict.fromkeys(rest, Verdict.UNREADABLE)
    except TransientError:
        landed = None
    complete_to = started - timedelta(seconds=lag)  # every upload before this shows in what was read
    for path, a in rest.items():
        if landed is not None and any(at >= a.since - CLOCK_SKEW for at in landed.get(path, ())):
            verdicts[path] = Verdict.DELIVERED
        elif looked < a.since + timedelta(seconds=pickup):
            verdicts[path] = Verdict.ABSENT  # had it arrived, SPS could not have taken it yet
        elif landed is not None and complete_to > a.until:
            verdicts[path] = Verdict.ABSENT
        else:
            verdicts[path] = Verdict.UNKNOWN
    return verdicts


def uploads_after(client: SpsClient, paths: set[str], after: datetime) -> dict[str, list[datetime]]:
    """The ``uploaded`` times (UTC) of ``paths`` in SPS's history, from ``after`` on.

    Pages by offset; a page that repeats the previous one, or more than ``MAX_HISTORY_PAGES``,
    raises TransientError: a history we could not read to the end tells nothing."""
    found: dict[str, list[datetime]] = {}
    offset, previous = 0, None
    for _ in range(MAX_HISTORY_PAGES):
        page = client.history_page(after=after - AFTER_MARGIN, limit=HISTORY_PAGE, offset=offset)
        ids = [e.id for e in page.entries]
        if ids and ids == previous:
            raise TransientError("SPS repeated a history page; its paging cannot be trusted now",
                                 system="sps", operation="history", code="page-repeated")
        for entry in page.entries:
            if entry.path in paths:
                found.setdefault(entry.path, []).extend(at for status, at in entry.events if status == "uploaded")
        if not page.entries or not page.has_next:
            return found
        offset, previous = offset + len(page.entries), ids
    raise TransientError(f"SPS history longer than {MAX_HISTORY_PAGES} pages since {after.isoformat()}",
                         system="sps", operation="history", code="history-too-long")
