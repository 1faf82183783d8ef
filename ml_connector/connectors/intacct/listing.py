"""readByQuery/readMore listings read without a silent gap.

readMore is not idempotent: Intacct moves the server-side result set forward on every call it
answers. When an answered readMore is sent again (its response was lost and the HTTP layer
retried it, or the page's line ``read`` failed after it and Prefect retried the task that does
both), the rows of the answered page are never seen, yet the listing still ends normally and a
WHENMODIFIED cursor would move past them for good. The only trace is ``numremaining``: each
page's must be the previous page's minus the rows this page brought, and a page may not be
empty while rows remain.

:class:`Continuity` is that guard for one listing; :func:`read_listing` is the paginator every
listing of the product goes through (Intacct -> SPS, -> Sterling, the backfill partitions,
reconcile): it yields pages, and on a gap starts over from readByQuery (callers record rows
idempotently, so re-read rows are duplicates), giving up with :class:`ListingGap` after
``restarts`` restarts. Nothing here knows Prefect: a page is read by the callable it is given.

    TransientError
    └── ListingGap        a listing could not be read to its end without a gap
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from ..errors import TransientError
from .codec import SYSTEM

log = logging.getLogger("ml_connector.intacct")

# A WHENMODIFIED listing starts this much before the stored high-water mark, so records stamped
# around the previous listing's end are read again (the ledger makes the re-read rows
# duplicates); without a mark it starts at EPOCH, before any record.
OVERLAP = timedelta(minutes=5)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
LISTING_RESTARTS = 3  # a gap is rare (one resent readMore); several in a row mean something is wrong
MAX_PAGES = 100_000  # a guard, not a limit anyone should reach


class ListingGap(TransientError):
    """A readByQuery listing kept skipping rows (or stalled); retrying later may read it whole."""

    def __init__(self, message: str, **context) -> None:
        context.setdefault("system", SYSTEM)
        context.setdefault("operation", "readMore")
        context.setdefault("code", "listing-gap")
        super().__init__(message, **context)


class Page(Protocol):
    """What the guard reads of a page (read-only, so frozen dataclasses are pages too)."""

    @property
    def result_id(self) -> str | None: ...

    @property
    def num_remaining(self) -> int: ...


P = TypeVar("P", bound=Page)


class Continuity:
    """The continuity guard of one listing: give it each page's row count, in order."""

    def __init__(self) -> None:
        self.remaining: int | None = None  # numremaining after the last page accepted

    def gap(self, rows: int, num_remaining: int, result_id: str | None) -> str | None:
        """Why this page does not follow from the previous one, or None (and the page is accepted)."""
        if rows == 0 and num_remaining > 0:
            return f"a page with no rows while {num_remaining} remain (the cursor stalled)"
        if self.remaining is not None and num_remaining != self.remaining - rows:
            return (f"readMore answered {rows} rows with {num_remaining} remaining after {self.remaining}, "
                    f"so {self.remaining - rows - num_remaining} rows were skipped")
        if num_remaining > 0 and not result_id:
            return f"{num_remaining} rows remain but no resultId continues the listing"
        self.remaining = num_remaining
        return None


def read_listing(read: Callable[[str | None], P], rows: Callable[[P], int], *, what: str,
                 restarts: int = LISTING_RESTARTS, max_pages: int = MAX_PAGES,
                 logger: logging.Logger | logging.LoggerAdapter = log) -> Iterator[P]:
    """Yield the pages of one listing, in order, each following from the previous one.

    ``read(None)`` sends the readByQuery, ``read(result_id)`` the readMore; ``rows(page)`` is
    the page's row count. A page that does not follow is not yielded: the listing starts over
    with ``read(None)`` and is yielded again from its first page (so a caller that is not
    idempotent should pass ``restarts=0``). Raises :class:`ListingGap` when the listing still
    has a gap after ``restarts`` restarts, TransientError past ``max_pages`` pages."""
    reason = ""
    for attempt in range(restarts + 1):
        guard, result_id = Continuity(), None
        for _ in range(max_pages):
            page = read(result_id)
            reason = guard.gap(rows(page), page.num_remaining, page.result_id) or ""
            if reason:
                break
            yield page
            if page.num_remaining == 0 or not page.result_id:
                return
            result_id = page.result_id
        else:
            raise TransientError(f"{what} exceeded {max_pages} pages", system=SYSTEM, operation="readMore")
        if attempt < restarts:
            logger.warning("%s: %s; reading the listing again (%d/%d)", what, reason, attempt + 1, restarts)
    raise ListingGap(f"{what} could not be read without a gap in {restarts + 1} attempt(s): {reason}")


__all__ = ["LISTING_RESTARTS", "Continuity", "ListingGap", "read_listing"]
