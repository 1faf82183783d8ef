"""RangePaginator on canned pages: no client, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ml_connector.connectors.errors import TransientError
from ml_connector.connectors.sterling.pagination import RangePaginator, range_param


@dataclass(frozen=True)
class Row:
    id: str


class Rows:
    """Serves ``rows`` by offset (optionally misbehaving), recording each (start, size) asked."""

    def __init__(self, n: int, *, ignore_range: bool = False) -> None:
        self.rows = [Row(str(i)) for i in range(n)]
        self.ignore_range = ignore_range
        self.asked: list[tuple[int, int]] = []

    def __call__(self, start: int, size: int) -> list[Row]:
        self.asked.append((start, size))
        return self.rows if self.ignore_range else self.rows[start:start + size]


def test_range_param_is_inclusive_and_zero_based():
    assert range_param(0, 100) == "0-99" and range_param(200, 50) == "200-249"


def test_walks_until_a_short_page():
    fetch = Rows(250)
    pages = RangePaginator(fetch, page_size=100)
    assert [r.id for r in pages] == [str(i) for i in range(250)]
    assert fetch.asked == [(0, 100), (100, 100), (200, 100)] and pages.pages == 3 and not pages.truncated


def test_an_exact_multiple_ends_on_an_empty_page():
    fetch = Rows(200)
    assert len(list(RangePaginator(fetch, page_size=100))) == 200
    assert fetch.asked[-1] == (200, 100)


def test_a_server_ignoring_range_with_a_full_page_is_caught_on_the_repeat():
    fetch = Rows(100, ignore_range=True)
    pages = RangePaginator(fetch, page_size=100)
    with pytest.raises(TransientError) as caught:
        list(pages)
    assert caught.value.code == "range-ignored" and fetch.asked == [(0, 100), (100, 100)]


def test_a_page_longer_than_asked_stops_the_walk_as_truncated():
    fetch = Rows(150, ignore_range=True)
    pages = RangePaginator(fetch, page_size=100)
    assert len(list(pages)) == 150 and pages.truncated and fetch.asked == [(0, 100)]


def test_rows_shifted_by_an_insert_are_not_yielded_twice():
    rows = [Row(str(i)) for i in range(6)]

    def fetch(start: int, size: int) -> list[Row]:
        # After the first page a row arrives at the front, so "2" moves to offset 3.
        current = rows if start == 0 else [Row("new")] + rows
        return current[start:start + size]

    pages = RangePaginator(fetch, page_size=3)
    seen = [r.id for r in pages]
    assert seen == ["0", "1", "2", "3", "4", "5"] and pages.skipped_repeats == 1


def test_max_pages_is_a_budget_not_an_error():
    fetch = Rows(1000)
    pages = RangePaginator(fetch, page_size=10, max_pages=3)
    assert len(list(pages)) == 30 and pages.truncated and pages.pages == 3


def test_rejects_nonsense_sizes():
    with pytest.raises(ValueError):
        RangePaginator(Rows(1), page_size=0)
    with pytest.raises(ValueError):
        RangePaginator(Rows(1), page_size=1001)
    with pytest.raises(ValueError):
        RangePaginator(Rows(1), max_pages=0)
