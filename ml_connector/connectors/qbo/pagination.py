"""Walking a QBO query with STARTPOSITION/MAXRESULTS, with guards against a misbehaving server.

QBO pages by offset: ``STARTPOSITION`` is 1-based, ``MAXRESULTS`` at most 1000 (reference
§B.5). The answer's ``maxResults`` is the number of rows *returned*, and an empty page has no
entity key at all. The walk ends on the first short page.

Guards:
- a page whose first row has the same Id as the previous page's first row means the server
  ignored STARTPOSITION and the walk would loop: :class:`TransientError` (a server fault; the
  pages already yielded stay processed, a rerun starts again and dedup absorbs the overlap);
- ``max_pages`` is a per-run budget: iteration stops and ``truncated`` is set.

Offset paging over a changing table can skip or repeat rows; callers that need every change
should order by ``Metadata.LastUpdatedTime`` and filter on it (the incremental pattern), and
rely on CDC as the safety net.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import TransientError
from .models import QboObject

MAX_RESULTS = 1000


@dataclass(frozen=True)
class QueryPage:
    """One page of a query: the entity, its rows, where it started and (for count(*)) the total."""

    entity: str | None
    rows: list[QboObject] = field(default_factory=list)
    start_position: int = 1
    max_results: int = 0
    total_count: int | None = None

    def __len__(self) -> int:
        return len(self.rows)


PageFetcher = Callable[[int, int], QueryPage]  # (start_position, max_results) -> page


class QueryPaginator:
    """Iterates :class:`QueryPage` objects until a short page.

    >>> pages = QueryPaginator(lambda start, size: client.query(sql, start, size))  # doctest: +SKIP
    """

    def __init__(self, fetch: PageFetcher, *, page_size: int = MAX_RESULTS, start_position: int = 1,
                 max_pages: int = 10_000) -> None:
        if not 1 <= page_size <= MAX_RESULTS:
            raise ValueError(f"page_size must be 1..{MAX_RESULTS}, got {page_size}")
        if start_position < 1:
            raise ValueError("start_position is 1-based")
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.fetch = fetch
        self.page_size = page_size
        self.start_position = start_position
        self.max_pages = max_pages
        self.pages = 0
        self.truncated = False

    def __iter__(self) -> Iterator[QueryPage]:
        start, previous_first = self.start_position, None
        self.pages, self.truncated = 0, False
        while True:
            page = self.fetch(start, self.page_size)
            self.pages += 1
            first = page.rows[0].id if page.rows else None
            if first is not None and first == previous_first:
                raise TransientError(
                    f"QBO returned the same page again at STARTPOSITION {start}; stopping to avoid a loop",
                    system="qbo", operation="query", code="page-repeated",
                )
            previous_first = first
            yield page
            if len(page.rows) < self.page_size:
                return
            if self.pages >= self.max_pages:
                self.truncated = True
                return
            start += self.page_size
