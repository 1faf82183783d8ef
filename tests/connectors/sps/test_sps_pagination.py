"""CursorPaginator on canned pages: no client, no HTTP."""

from __future__ import annotations

import pytest

from ml_connector.connectors.errors import TransientError
from ml_connector.connectors.sps.client import ListPage
from ml_connector.connectors.sps.pagination import CursorPaginator


class Canned:
    """A fetcher serving pages keyed by cursor, recording what it was asked for."""

    def __init__(self, pages: dict[str | None, ListPage]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    def __call__(self, cursor: str | None) -> ListPage:
        self.asked.append(cursor)
        return self.pages[cursor]


def page(*files: str, next_cursor: str | None = None) -> ListPage:
    return ListPage(files=list(files), next_cursor=next_cursor)


def test_walks_until_next_is_null_and_exposes_each_resume_cursor():
    fetch = Canned({None: page("out/a", next_cursor="c1"), "c1": page("out/b", next_cursor="c2"), "c2": page("out/c")})
    pages = list(CursorPaginator(fetch))
    assert [p.files for p in pages] == [["out/a"], ["out/b"], ["out/c"]]
    assert [(p.number, p.cursor, p.next_cursor) for p in pages] == [(1, None, "c1"), (2, "c1", "c2"), (3, "c2", None)]
    assert fetch.asked == [None, "c1", "c2"]


def test_starts_from_a_persisted_cursor():
    fetch = Canned({"c1": page("out/b")})
    assert [p.files for p in CursorPaginator(fetch, start_cursor="c1")] == [["out/b"]]
    assert fetch.asked == ["c1"]


def test_empty_pages_with_a_next_cursor_are_followed():
    fetch = Canned({None: page(next_cursor="c1"), "c1": page("out/a")})
    assert [p.files for p in CursorPaginator(fetch)] == [[], ["out/a"]]


def test_a_repeated_cursor_raises_after_the_pages_already_seen():
    fetch = Canned({None: page("out/a", next_cursor="c1"), "c1": page("out/b", next_cursor="c1")})
    seen = []
    with pytest.raises(TransientError, match="repeated a listing cursor") as info:
        for p in CursorPaginator(fetch):
            seen.append(p.files)
    assert seen == [["out/a"], ["out/b"]]  # both pages were handed over before the guard tripped
    assert info.value.code == "cursor-repeated" and info.value.retryable


def test_returning_to_the_start_cursor_is_a_loop_too():
    fetch = Canned({"c0": page("out/a", next_cursor="c0")})
    with pytest.raises(TransientError):
        list(CursorPaginator(fetch, start_cursor="c0"))


def test_max_pages_is_a_budget_not_an_error():
    pages = {None: page("p0", next_cursor="c1")} | {f"c{i}": page(f"p{i}", next_cursor=f"c{i + 1}") for i in range(1, 9)}
    paginator = CursorPaginator(Canned(pages), max_pages=3)
    got = list(paginator)
    assert len(got) == 3 and paginator.truncated and got[-1].next_cursor == "c3"  # resume from here next run
    complete = CursorPaginator(Canned({None: page("p0")}), max_pages=1)
    assert len(list(complete)) == 1 and not complete.truncated


def test_max_pages_must_be_positive():
    with pytest.raises(ValueError):
        CursorPaginator(Canned({}), max_pages=0)
