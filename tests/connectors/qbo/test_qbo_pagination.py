"""QueryPaginator guards and the parsing of query, batch and CDC answers from fixture files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.connectors.errors import TransientError
from ml_connector.connectors.qbo import PurchaseOrder, QboObject, QueryPage, QueryPaginator, StaleObject
from ml_connector.connectors.qbo._wire import batch_response, cdc_result, query_page
from ml_connector.connectors.qbo.errors import loads

FIXTURES = Path(__file__).parents[2] / "fixtures" / "qbo"


def load(name: str) -> dict:
    return loads((FIXTURES / name).read_bytes())


def pages_of(total: int):
    """A fetcher over ``total`` rows that records the positions asked for."""
    asked: list[tuple[int, int]] = []

    def fetch(start: int, size: int) -> QueryPage:
        asked.append((start, size))
        ids = range(start, min(start + size, total + 1))
        return QueryPage("Vendor", [QboObject(Id=str(i)) for i in ids], start, len(ids))

    return fetch, asked


def test_walks_one_based_positions_until_a_short_page():
    fetch, asked = pages_of(250)
    pager = QueryPaginator(fetch, page_size=100)
    assert [len(p) for p in pager] == [100, 100, 50]
    assert asked == [(1, 100), (101, 100), (201, 100)]


def test_an_exact_multiple_ends_on_the_empty_page():
    fetch, asked = pages_of(200)
    assert [len(p) for p in QueryPaginator(fetch, page_size=100)] == [100, 100, 0]
    assert asked[-1] == (201, 100)


def test_a_server_that_ignores_startposition_is_stopped():
    def stuck(start: int, size: int) -> QueryPage:
        return QueryPage("Vendor", [QboObject(Id=str(i)) for i in range(1, size + 1)], 1, size)

    seen = []
    with pytest.raises(TransientError, match="same page"):
        for page in QueryPaginator(stuck, page_size=10):
            seen.append(page)
    assert len(seen) == 1


def test_max_pages_is_a_budget_not_an_error():
    fetch, _ = pages_of(10_000)
    pager = QueryPaginator(fetch, page_size=10, max_pages=3)
    assert len(list(pager)) == 3 and pager.truncated


@pytest.mark.parametrize("kwargs", [{"page_size": 0}, {"page_size": 1001}, {"start_position": 0}, {"max_pages": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        QueryPaginator(lambda s, n: QueryPage(None), **kwargs)


def test_query_fixture_parses_into_models_with_decimal_money():
    page = query_page(load("query_purchaseorder_page.json"), 1)
    assert page.entity == "PurchaseOrder" and len(page) == 2 and page.max_results == 2
    first = page.rows[0]
    assert isinstance(first, PurchaseOrder) and first.total_amt == Decimal("35.10")
    assert first.ap_account_ref.value == "33" and first.custom_field[0].string_value == "M2 #000000123"
    assert first.line[1].account_based_expense_line_detail.account_ref.name == "Supplies"
    assert first.to_qbo()["POStatus"] == "Open" and first.to_qbo()["domain"] == "QBO"
    assert page.rows[1].total_amt == Decimal("0.3")


def test_empty_and_count_answers():
    empty = query_page(load("query_empty.json"), 1)
    assert empty.entity is None and len(empty) == 0
    assert query_page(load("query_count.json"), 1).total_count == 42


def test_batch_fixture_items_keep_their_own_outcome():
    items = [batch_response(raw) for raw in load("batch_response_one_fault.json")["BatchItemResponse"]]
    assert items[0].ok and items[0].entity == "Vendor" and items[0].object.id == "61"
    assert not items[1].ok and isinstance(items[1].error(), StaleObject) and items[1].messages == ["Stale Object Error"]
    assert items[2].ok and items[2].query_response["Customer"][0]["Id"] == "58"


def test_cdc_fixture_separates_changes_from_deletions():
    result = cdc_result(load("cdc_response.json"))
    assert [o.id for o in result.changed("PurchaseOrder")] == ["257"]
    assert result.changed("PurchaseOrder")[0].total_amt == Decimal("35.10")
    assert result.deleted("Customer") == ["58"] and result.changed("Customer") == []
    assert result.total == 2 and not result.capped
