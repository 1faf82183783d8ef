"""Walking an SPS directory listing page by page, with guards against a misbehaving server.

SPS cursors are opaque Base64 tokens; ``paging.next`` is null on the last page. The paginator
yields each page together with the cursor that resumes *after* it, so the caller can persist
that cursor only once the page's documents are durable (DESIGN §3).

Guards:
- a cursor the server already gave (or the one we started from) means the listing would loop:
  a server bug. It raises :class:`TransientError`: nothing in the customer's data or our
  mapping can fix it, the pages already yielded stay processed, and the next run (or a Prefect
  retry) lists again from the last durable cursor; dedup absorbs any overlap.
- ``max_pages`` is a per-run budget, not an error: iteration stops, ``truncated`` is set, and
  the caller resumes from the last durable cursor next time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ..errors import TransientError
from .client import ListPage


class PageFetcher(Protocol):
    """Fetches the page that starts at ``cursor`` (None = the beginning)."""

    def __call__(self, cursor: str | None) -> ListPage: ...


@dataclass(frozen=True)
class CursorPage:
    """One page: which cursor fetched it, and which cursor resumes after it (None = done)."""

    number: int
    cursor: str | None
    page: ListPage

    @property
    def next_cursor(self) -> str | None:
        return self.page.next_cursor

    @property
    def files(self) -> list[str]:
        return self.page.files


class CursorPaginator:
    """Iterates :class:`CursorPage` objects from ``start_cursor`` until ``paging.next`` is null.

    >>> pages = CursorPaginator(lambda cursor: client.list_page("out/", cursor=cursor))  # doctest: +SKIP
    """

    def __init__(self, fetch: PageFetcher | Callable[[str | None], ListPage], *,
                 start_cursor: str | None = None, max_pages: int = 1000) -> None:
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.fetch = fetch
        self.start_cursor = start_cursor
        self.max_pages = max_pages
        self.pages = 0
        self.truncated = False

    def __iter__(self) -> Iterator[CursorPage]:
        seen = {self.start_cursor} if self.start_cursor else set()
        cursor = self.start_cursor
        self.pages, self.truncated = 0, False
        while True:
            page = self.fetch(cursor)
            self.pages += 1
            yield CursorPage(self.pages, cursor, page)
            cursor = page.next_cursor
            if not cursor:
                return
            if cursor in seen:
                raise TransientError(
                    f"SPS repeated a listing cursor after page {self.pages}; stopping to avoid a loop",
                    system="sps", operation="list", code="cursor-repeated",
                )
            seen.add(cursor)
            if self.pages >= self.max_pages:
                self.truncated = True
                return
