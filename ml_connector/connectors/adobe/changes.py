"""The one reader of Adobe Commerce changes: keyset pages of (``updated_at``, ``entity_id``).

Every request is page 1 of "after the last key read, before ``until``" (reference §A.4, §A.5)::

    updated_at >= T  AND  (updated_at > T OR entity_id > X)  AND  updated_at < until
    sortOrders: updated_at ASC, entity_id ASC;  pageSize: N;  currentPage: 1

Filters inside one group are OR-ed and groups AND-ed, so the key condition is one group of two
filters; the sort direction is always sent (Magento defaults to DESC).

Offset paging (``currentPage`` 1, 2, 3 ...) over the same window loses entities: an entity
updated during the walk leaves the window (its new ``updated_at`` is past ``until``), every
later entity shifts one place left, and the next offset skips one. The skipped entity is older
than the cursor the walk stores, so a later run starting ``OVERLAP`` before that cursor does not
see it either (``tests/connectors/adobe/test_adobe_change_feed.py`` measures it). A keyset page
starts after the last key read, whatever moved: nothing is skipped, and the entities that
moved are read by the next window. Keyset paging also never asks past the last page, where
Magento answers the last page again.

Cursors: a page's ``cursor`` is what a flow stores once the page is durable: the greatest
(``updated_at``, id) made durable, never behind the cursor the walk started from. The next
window starts ``OVERLAP`` before it, because Magento stamps ``updated_at`` to the second and a
transaction can commit after a read covered its second; the ledger dedups what is read again.
A page's ``after`` is the walk's position (the last key read): what the next page starts after.
A backfill passes ``since``/``until`` and no cursor, and stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from .pagination import SearchPage, SyncCursor
from .search import Filter, SearchCriteria

PAGE_SIZE = 100  # entities per request: Magento's optional input limit caps pageSize at 300
OVERLAP = timedelta(minutes=2)  # read again before the stored cursor (late commits in the same second)
MAX_PAGES = 1000  # pages one walk reads before it stops (``truncated``) and the cursor resumes later

Search = Callable[[SearchCriteria], SearchPage]


def window_criteria(since: datetime | None, until: datetime, after: SyncCursor | None,
                    base: SearchCriteria | None = None) -> SearchCriteria:
    """The keyset search of the module docstring: after ``after`` (else from ``since``), before ``until``."""
    criteria = base or SearchCriteria()
    if after is not None:
        criteria = criteria.where(Filter("updated_at", after.updated_at, "gteq"))
        criteria = criteria.where(Filter("updated_at", after.updated_at, "gt"), Filter("entity_id", after.id, "gt"))
    elif since is not None:
        criteria = criteria.where(Filter("updated_at", since, "gteq"))
    criteria = criteria.where(Filter("updated_at", until, "lt"))
    return criteria.order_by("updated_at", "ASC").order_by("entity_id", "ASC")


class ChangeFeed:
    """The keyset pages of one window ``since <= updated_at < until`` of one kind.

    Iterate it to walk the window (each page carries ``cursor``, ``after`` and ``more``), or call
    :meth:`page` with the ``after`` of the page before to read one page at a time (a flow that
    makes each page a task of its own). ``until`` is fixed when the feed is made, so a walk ends
    while Commerce keeps writing; what changes meanwhile lands in the next window."""

    def __init__(self, search: Search, *, start: SyncCursor | None, since: datetime | None, until: datetime,
                 page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES, base: SearchCriteria | None = None) -> None:
        if page_size < 1 or max_pages < 1:
            raise ValueError("page_size and max_pages start at 1")
        self.search, self.base = search, base
        self.since, self.until = since, until
        self.start = start
        self.cursor = start  # the greatest key of the pages iterated so far
        self.page_size, self.max_pages = page_size, max_pages
        self.pages = 0
        self.truncated = False  # the page budget ran out before the window's end
        self.stalled = False  # a full page brought no key past the position (no readable updated_at)

    def page(self, after: str | SyncCursor | None = None) -> SearchPage:
        """One page after the walk position ``after`` (an earlier page's ``after``; None: from ``since``)."""
        position = SyncCursor.decode(after) if isinstance(after, str) else after
        page = self.search(window_criteria(self.since, self.until, position, self.base).page(1, self.page_size))
        reached = SyncCursor.after(position, page)
        stalled = bool(page.keys) and reached == position
        durable = max((c for c in (self.start, reached) if c is not None), default=None)
        return replace(page, cursor=durable.encode() if durable else None,
                       after=reached.encode() if reached else None,
                       more=not stalled and not self._last(page), stalled=stalled)

    def _last(self, page: SearchPage) -> bool:
        # total_count counts what is left after the position: the whole rest fits in this page
        return page.received < self.page_size or (page.total_count is not None and page.total_count <= page.received)

    def __iter__(self) -> Iterator[SearchPage]:
        self.pages, self.truncated, self.stalled = 0, False, False
        after: str | None = None
        while True:
            page = self.page(after)
            self.pages += 1
            self.stalled = page.stalled
            self.cursor = SyncCursor.decode(page.cursor) if page.cursor else self.cursor
            yield page
            if not page.more:
                return
            if self.pages >= self.max_pages:
                self.truncated = True
                return
            after = page.after
