"""Walking a Sterling list with ``_range`` (reference §C.4), with guards against a bad server.

Sterling pages by offset: ``_range=<start>-<end>``, inclusive and zero-based. There is no
total count and no next link, so the walk stops when a page comes back shorter than asked
(an empty list arrives as a 404 error object, which the client turns into an empty page).

Guards:
- a page identical to the one before means the server ignored ``_range`` and would serve the
  same rows forever: :class:`TransientError` (a server fault, not the customer's data; the
  rows already yielded stay processed and the next poll lists again);
- an item seen earlier in the same walk is skipped, not repeated: offset paging shifts when
  rows are inserted mid-walk, and a caller must never see one message twice in one listing;
- a page longer than asked means ``_range`` was ignored outright: its rows are yielded, the
  walk stops and sets ``truncated``;
- ``max_pages`` is a per-run budget: the walk stops and sets ``truncated``; the next run
  lists again from the start (dedup in the ledger absorbs the overlap).

Offset paging also shifts the other way: rows deleted during a walk move later rows to
earlier offsets, which this walk would skip. Collect a listing first, then consume.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from ..errors import TransientError

log = logging.getLogger("ml_connector.sterling")

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def range_param(start: int, size: int) -> str:
    """The ``_range`` value for ``size`` rows from ``start``: ``0-99`` for (0, 100)."""
    return f"{start}-{start + size - 1}"


class RangePaginator(Generic[T]):
    """Iterates items of a ``_range``-paged list, page by page, with the guards above.

    ``fetch(start, size)`` returns the rows ``start .. start+size-1`` (fewer at the end);
    ``key`` names a row for repeat detection (its ``id`` by default).

    >>> items = RangePaginator(lambda start, size: client.partners_page(start, size))  # doctest: +SKIP
    """

    def __init__(
        self, fetch: Callable[[int, int], list[T]], *, page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = 1000, key: Callable[[T], Hashable] | None = None, what: str = "list",
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.fetch = fetch
        self.page_size = page_size
        self.max_pages = max_pages
        self.key = key or _id
        self.what = what
        self.pages = 0
        self.truncated = False
        self.skipped_repeats = 0

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page

    def iter_pages(self) -> Iterator[list[T]]:
        """Each page's new items (repeats of earlier pages removed), in server order."""
        self.pages, self.truncated, self.skipped_repeats = 0, False, 0
        seen: set[Hashable] = set()
        previous: list[Hashable] | None = None
        start = 0
        while True:
            rows = self.fetch(start, self.page_size)
            self.pages += 1
            keys = [self.key(row) for row in rows]
            if rows and keys == previous:
                raise TransientError(
                    f"Sterling returned the same {self.what} page twice (offset {start}); it is ignoring _range",
                    system="sterling", operation=self.what, code="range-ignored",
                )
            fresh = [row for row, k in zip(rows, keys, strict=True) if k not in seen]
            self.skipped_repeats += len(rows) - len(fresh)
            seen.update(keys)
            yield fresh
            if len(rows) > self.page_size:
                # More rows than asked: the server ignored _range and sent what it had. Asking
                # for the next offset would only repeat them; whether rows lie beyond its own
                # cap is unknowable, so say the walk may be incomplete.
                log.warning("Sterling ignored _range on %s: %d rows for a page of %d", self.what, len(rows), self.page_size)
                self.truncated = True
                return
            if len(rows) < self.page_size:
                return
            if self.pages >= self.max_pages:
                self.truncated = True
                return
            previous, start = keys, start + self.page_size


def _id(item: Any) -> Hashable:
    """The default key: the item's ``id`` (Sterling's REST resources all have one)."""
    return item.id
