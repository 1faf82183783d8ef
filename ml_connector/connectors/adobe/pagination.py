"""Walking Magento search results without looping, and the (``updated_at``, id) sync cursor.

Magento clamps ``currentPage`` to the last page: asking past the end returns the last page
*again*, with the same ``total_count`` (reference §A.4; some 2.4 endpoints may answer an
empty page instead). So a walk must never wait for an empty page. :class:`SearchPaginator`
stops at the first of:

- ``current_page * page_size >= total_count`` (when ``total_count`` is there);
- a short page (fewer items than ``page_size``), or an empty one;
- a page that brings no id not already seen: the clamped last page repeated;
- ``max_pages`` pages: a per-run budget, ``truncated`` is set, the cursor resumes later.

Items are de-duplicated by id across pages (an entity updated while paging can move to a
later page and show up twice).

:class:`SearchPaginator` pages by offset, which is safe only for a listing whose order does not
move while it is walked (``entity_id``); changes are read by keyset, with :mod:`.changes`.
:class:`SyncCursor` is the key that walk resumes after, stored in the ledger as an opaque string.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..errors import BadDocument
from .search import format_ts, parse_ts


@dataclass(frozen=True)
class Reject:
    """A raw entity that could not be read: quarantine it with ``error``'s reason."""

    key: str | None
    raw: Any
    error: BadDocument


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: parsed ``items``, unreadable ``rejects``, and the envelope's numbers.

    ``received`` counts the raw entries on the page before dedup; ``duplicates`` those dropped
    as already seen on an earlier page of the same walk."""

    kind: str
    items: list = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    total_count: int | None = None
    current_page: int = 1
    page_size: int | None = None
    received: int = 0
    keys: tuple[str, ...] = ()  # ids of all raw entries, in order (items and rejects)
    duplicates: int = 0
    # set by the change feed (.changes): the durable cursor to store once the page is durable,
    # the walk position the next page starts after, and whether the window holds more
    cursor: str | None = None
    after: str | None = None
    more: bool = False
    stalled: bool = False  # a page of entities none of which had a readable updated_at

    def __len__(self) -> int:
        return len(self.items)


PageFetcher = Callable[[int, int], SearchPage]  # (current_page, page_size) -> page


class SearchPaginator:
    """Iterates the pages of one search with the guards above.

    >>> for page in SearchPaginator(lambda n, size: client.search("orders", criteria.page(n, size))):  # doctest: +SKIP
    ...     handle(page.items)
    """

    def __init__(self, fetch: PageFetcher, *, page_size: int = 100, max_pages: int = 1000, start_page: int = 1) -> None:
        if page_size < 1 or max_pages < 1 or start_page < 1:
            raise ValueError("page_size, max_pages and start_page start at 1")
        self.fetch = fetch
        self.page_size = page_size
        self.max_pages = max_pages
        self.start_page = start_page
        self.pages = 0
        self.truncated = False
        self.repeated = False  # the walk ended on a repeated (clamped) page
        self.total_count: int | None = None

    def __iter__(self) -> Iterator[SearchPage]:
        seen: set[str] = set()
        number = self.start_page
        self.pages, self.truncated, self.repeated = 0, False, False
        while True:
            page = self.fetch(number, self.page_size)
            self.pages += 1
            self.total_count = page.total_count if page.total_count is not None else self.total_count
            fresh = [k for k in page.keys if k not in seen]
            if page.keys and not fresh:
                self.repeated = True
                return
            yield _deduped(page, seen)
            seen.update(page.keys)
            if self._last(page, number):
                return
            if self.pages >= self.max_pages:
                self.truncated = True
                return
            number += 1

    def _last(self, page: SearchPage, number: int) -> bool:
        if page.received < self.page_size:
            return True
        return page.total_count is not None and number * self.page_size >= page.total_count


def _deduped(page: SearchPage, seen: set[str]) -> SearchPage:
    items = [i for i in page.items if getattr(i, "key", None) not in seen]
    rejects = [r for r in page.rejects if r.key is None or r.key not in seen]
    dropped = len(page.items) - len(items) + len(page.rejects) - len(rejects)
    return replace(page, items=items, rejects=rejects, duplicates=dropped) if dropped else page


class BadCursor(ValueError):
    """A stored cursor string that is not one of ours (or from an incompatible version)."""


@dataclass(frozen=True, order=True)
class SyncCursor:
    """The greatest (``updated_at``, id) a sync has made durable. Ordered, so ``max`` works."""

    updated_at: datetime
    id: int = 0

    def encode(self) -> str:
        """The opaque string a flow stores in the ledger."""
        data = json.dumps({"v": 1, "t": format_ts(self.updated_at), "id": self.id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> SyncCursor:
        """The cursor :meth:`encode` made; anything else -> :class:`BadCursor`."""
        try:
            padded = text + "=" * (-len(text) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(data, dict) or data.get("v") != 1:
                raise ValueError("version")
            return cls(updated_at=parse_ts(data["t"]), id=int(data.get("id") or 0))  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            raise BadCursor(f"not an Adobe Commerce sync cursor: {text[:40]!r}") from None

    @classmethod
    def after(cls, current: SyncCursor | None, page: SearchPage) -> SyncCursor | None:
        """``current`` advanced over every entity of ``page`` (items and readable rejects)."""
        best = current
        stamps = [(getattr(i, "updated_at", None), getattr(i, "key", None)) for i in page.items]
        stamps += [(_raw_ts(r.raw), r.key) for r in page.rejects]
        for stamp, key in stamps:
            if stamp is None:
                continue
            candidate = cls(stamp, int(key) if key and str(key).isdigit() else 0)
            best = candidate if best is None or candidate > best else best
        return best


def _raw_ts(raw: Any) -> datetime | None:
    try:
        return parse_ts(raw.get("updated_at")) if isinstance(raw, dict) else None
    except (ValueError, TypeError):
        return None
