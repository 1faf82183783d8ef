"""searchCriteria paging that cannot loop (reference §A.4) and the incremental window (§A.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from adobe_fake import FakeMagento, client_for, magento_query

from ml_connector.connectors.adobe import BadCursor, Filter, SearchCriteria, SyncCursor
from ml_connector.connectors.errors import BadDocument

UTC = UTC


def orders(n: int, start: datetime = datetime(2025, 6, 1, tzinfo=UTC), step: timedelta = timedelta(minutes=1)) -> list[dict]:
    return [{"entity_id": i, "increment_id": f"{i:09d}", "grand_total": "10.00",
             "updated_at": (start + step * (i // 2)).strftime("%Y-%m-%d %H:%M:%S")} for i in range(1, n + 1)]


def ids(pages) -> list[int]:
    return [o.entity_id for page in pages for o in page.items]


def test_stops_on_total_count_without_asking_past_the_end():
    magento = FakeMagento({"orders": orders(30)})
    with client_for(magento) as client:
        walk = client.pages("orders", page_size=10)
        assert ids(walk) == list(range(1, 31))
    assert len(magento.requests) == 3 and not walk.repeated and not walk.truncated


def test_repeated_last_page_without_total_count_ends_the_walk():
    # fields= trimmed total_count away and the last page is full: the clamped page 4 repeats page 3.
    magento = FakeMagento({"orders": orders(30)}, with_total=False)
    with client_for(magento) as client:
        walk = client.pages("orders", page_size=10)
        assert ids(walk) == list(range(1, 31))
    assert len(magento.requests) == 4 and walk.repeated


def test_empty_page_mode_ends_the_walk():
    magento = FakeMagento({"orders": orders(20)}, with_total=False, out_of_range="empty")
    with client_for(magento) as client:
        walk = client.pages("orders", page_size=10)
        assert ids(walk) == list(range(1, 21))
    assert len(magento.requests) == 3 and not walk.repeated


def test_a_server_ignoring_current_page_cannot_loop():
    rows = orders(10)

    def stuck(request):  # always page 1, and a total that promises more
        return httpx.Response(200, json={"items": rows, "total_count": 1000})

    calls = []
    with client_for(lambda r: calls.append(r) or stuck(r)) as client:
        walk = client.pages("orders", page_size=10)
        assert ids(walk) == list(range(1, 11))
    assert len(calls) == 2 and walk.repeated


def test_duplicates_across_pages_are_dropped():
    rows = orders(6)
    pages = {1: rows[0:3], 2: [rows[2], rows[3], rows[4]], 3: [rows[5]]}  # order 3 moved to page 2 as well

    def handler(request):
        page = int(magento_query(request.url.query.decode())["searchCriteria"]["currentPage"])
        return httpx.Response(200, json={"items": pages[page], "total_count": 7})

    with client_for(handler) as client:
        walked = list(client.pages("orders", page_size=3))
    assert ids(walked) == [1, 2, 3, 4, 5, 6]
    assert [p.duplicates for p in walked] == [0, 1, 0]


def test_page_budget_truncates():
    magento = FakeMagento({"orders": orders(50)})
    with client_for(magento) as client:
        walk = client.pages("orders", page_size=10, max_pages=2)
        assert ids(walk) == list(range(1, 21))
    assert walk.truncated and len(magento.requests) == 2


def test_a_malformed_entity_is_a_reject_not_a_failed_page():
    rows = orders(3)
    rows[1] = {"entity_id": 2, "increment_id": "000000002", "grand_total": "ten dollars", "items": [{"sku": None}]}
    with client_for(FakeMagento({"orders": rows})) as client:
        page = client.search("orders")
    assert [o.entity_id for o in page.items] == [1, 3]
    (reject,) = page.rejects
    assert reject.key == "2" and isinstance(reject.error, BadDocument)
    assert "orders 2 is malformed" in str(reject.error) and "grand_total" in str(reject.error)
    assert "ten dollars" not in str(reject.error)  # values stay out of reasons


def test_pages_always_sends_a_stable_sort():
    magento = FakeMagento({"orders": orders(3)})
    with client_for(magento) as client:
        list(client.pages("orders", page_size=10))
    sort = magento_query(magento.requests[0].url.query.decode())["searchCriteria"]["sortOrders"]
    assert sort == {"0": {"field": "entity_id", "direction": "ASC"}}


def test_incremental_window_is_half_open_sorted_and_bounded():
    rows = orders(10)  # updated_at: 2025-06-01 00:00, pairs share a minute: ids 2,3 at 00:01 ...
    magento = FakeMagento({"orders": list(reversed(rows))})
    since, until = datetime(2025, 6, 1, 0, 1, tzinfo=UTC), datetime(2025, 6, 1, 0, 4, tzinfo=UTC)
    with client_for(magento) as client:
        feed = client.changes("orders", since=since, until=until, page_size=2)
        pages = list(feed)
    assert ids(pages) == [2, 3, 4, 5, 6, 7]  # 00:01 <= updated_at < 00:04, ordered by (updated_at, entity_id)
    criteria = magento_query(magento.requests[0].url.query.decode())["searchCriteria"]
    assert criteria["filter_groups"] == {
        "0": {"filters": {"0": {"field": "updated_at", "value": "2025-06-01 00:01:00", "condition_type": "gteq"}}},
        "1": {"filters": {"0": {"field": "updated_at", "value": "2025-06-01 00:04:00", "condition_type": "lt"}}}}
    assert criteria["sortOrders"] == {"0": {"field": "updated_at", "direction": "ASC"},
                                      "1": {"field": "entity_id", "direction": "ASC"}}
    cursors = [SyncCursor.decode(p.cursor) for p in pages]
    assert cursors == sorted(cursors) and cursors[-1] == SyncCursor(datetime(2025, 6, 1, 0, 3, tzinfo=UTC), 7)


def test_resuming_from_a_cursor_starts_one_overlap_earlier():
    magento = FakeMagento({"orders": orders(10)})
    cursor = SyncCursor(datetime(2025, 6, 1, 0, 3, tzinfo=UTC), 7).encode()
    with client_for(magento, clock=lambda: datetime(2025, 6, 1, 0, 10, 30, tzinfo=UTC).timestamp()) as client:
        feed = client.changes("orders", cursor, overlap=timedelta(minutes=1))
        pages = list(feed)
    assert ids(pages) == [4, 5, 6, 7, 8, 9, 10]  # from 00:02; 6 and 7 are read again (ledger dedups)
    assert feed.since == datetime(2025, 6, 1, 0, 2, tzinfo=UTC) and feed.until == datetime(2025, 6, 1, 0, 10, 30, tzinfo=UTC)
    assert SyncCursor.decode(pages[-1].cursor) == SyncCursor(datetime(2025, 6, 1, 0, 5, tzinfo=UTC), 10)


def test_cursor_never_moves_back_and_an_empty_window_keeps_it():
    cursor = SyncCursor(datetime(2025, 7, 1, tzinfo=UTC), 99)
    with client_for(FakeMagento({"orders": orders(4)})) as client:
        pages = list(client.changes("orders", cursor.encode(), until=datetime(2025, 7, 2, tzinfo=UTC)))
    assert pages[0].items == [] and SyncCursor.decode(pages[0].cursor) == cursor


def test_cursor_round_trip_and_garbage():
    cursor = SyncCursor(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), 42)
    assert SyncCursor.decode(cursor.encode()) == cursor
    for bad in ("", "not-a-cursor", "eyJ2IjoyfQ", "e30"):
        with pytest.raises(BadCursor):
            SyncCursor.decode(bad)


def test_window_arguments_are_checked():
    with client_for(FakeMagento()) as client:
        with pytest.raises(ValueError, match="no updated_at"):
            client.changes("companies")
        with pytest.raises(ValueError, match="empty window"):
            client.changes("orders", since=datetime(2025, 1, 2, tzinfo=UTC), until=datetime(2025, 1, 1, tzinfo=UTC))
        with pytest.raises(ValueError, match="timezone-aware"):
            list(client.changes("orders", since=datetime(2025, 1, 1), until=datetime(2025, 1, 2)))


def test_criteria_limits_keep_oauth_ordering_safe():
    criteria = SearchCriteria()
    for n in range(10):
        criteria = criteria.where(Filter("status", f"s{n}"))
    with pytest.raises(ValueError, match="at most 10"):
        criteria.where(Filter("status", "one-too-many"))
    with pytest.raises(ValueError):
        Filter("status", "x", "between")
    assert SearchCriteria().to_pairs() == [("searchCriteria", "")]


def test_each_page_starts_after_the_last_key_read_even_inside_a_second():
    rows = orders(10)  # pairs share a minute, so pages of 3 split ties (6 and 7 share 00:03)
    magento = FakeMagento({"orders": list(reversed(rows))})
    until = datetime(2025, 6, 2, tzinfo=UTC)
    with client_for(magento) as client:
        pages = list(client.changes("orders", since=datetime(2025, 6, 1, tzinfo=UTC), until=until, page_size=3))
    assert [[o.entity_id for o in p.items] for p in pages] == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
    assert len(magento.requests) == 4  # the short last page ends the walk
    for request, before in zip(magento.requests[1:], pages[:-1], strict=True):
        criteria = magento_query(request.url.query.decode())["searchCriteria"]
        last = before.items[-1]
        assert criteria["filter_groups"]["1"]["filters"] == {  # one group: OR-ed
            "0": {"field": "updated_at", "value": last.updated_at.strftime("%Y-%m-%d %H:%M:%S"), "condition_type": "gt"},
            "1": {"field": "entity_id", "value": str(last.entity_id), "condition_type": "gt"}}
        assert criteria["currentPage"] == "1" and criteria["pageSize"] == "3"


def test_total_count_ends_the_walk_without_asking_for_an_empty_page():
    with client_for(FakeMagento({"orders": orders(6)})) as counted:
        walked = list(counted.changes("orders", since=datetime(2025, 6, 1, tzinfo=UTC), page_size=3))
    magento = FakeMagento({"orders": orders(6)}, with_total=False)
    with client_for(magento) as client:
        uncounted = list(client.changes("orders", since=datetime(2025, 6, 1, tzinfo=UTC), page_size=3))
    assert ids(walked) == ids(uncounted) == [1, 2, 3, 4, 5, 6]
    assert [p.more for p in walked] == [True, False] and len(uncounted) == 3 and uncounted[-1].items == []


def test_a_page_at_a_time_walks_as_the_iteration_does():
    magento = FakeMagento({"orders": orders(7)})
    window = {"since": datetime(2025, 6, 1, tzinfo=UTC), "until": datetime(2025, 6, 2, tzinfo=UTC), "page_size": 3}
    with client_for(magento) as client:
        iterated = list(client.changes("orders", **window))
        stepped, after = [], None
        while not stepped or stepped[-1].more:
            stepped.append(client.changes("orders", **window).page(after))
            after = stepped[-1].after
    assert [(ids([p]), p.cursor, p.after, p.more) for p in stepped] == \
        [(ids([p]), p.cursor, p.after, p.more) for p in iterated]


def test_reading_the_overlap_again_never_moves_the_stored_cursor_back():
    stored = SyncCursor(datetime(2025, 6, 1, 0, 5, tzinfo=UTC), 10)
    clock = lambda: datetime(2025, 6, 1, 1, tzinfo=UTC).timestamp()  # noqa: E731
    with client_for(FakeMagento({"orders": orders(10)}), clock=clock) as client:
        pages = list(client.changes("orders", stored.encode(), overlap=timedelta(minutes=3), page_size=2))
    assert ids(pages) == [4, 5, 6, 7, 8, 9, 10]  # from 00:02
    assert [SyncCursor.decode(p.cursor) for p in pages] == [stored] * 4  # what is stored stays put
    assert [SyncCursor.decode(p.after).id for p in pages] == [5, 7, 9, 10]  # while the walk moves on


def test_a_full_page_without_a_readable_updated_at_stops_the_walk_at_its_cursor():
    rows = [{"entity_id": i, "increment_id": f"{i:09d}", "grand_total": "1.00", "updated_at": "yesterday"}
            for i in (1, 2)]
    calls = []
    start = SyncCursor(datetime(2025, 6, 1, tzinfo=UTC), 0)
    with client_for(lambda r: calls.append(r) or httpx.Response(200, json={"items": rows, "total_count": 50})) as client:
        feed = client.changes("orders", start.encode(), until=datetime(2025, 6, 2, tzinfo=UTC), page_size=2)
        pages = list(feed)
    assert len(calls) == 1 and feed.stalled and not pages[0].more
    assert len(pages[0].rejects) == 2 and SyncCursor.decode(pages[0].cursor) == start


def test_by_ids_asks_one_page_per_chunk_of_numeric_ids():
    magento = FakeMagento({"orders": orders(250)})
    wanted = [*range(250, 0, -1), "not-an-id", 999]  # 999 is gone from Commerce
    with client_for(magento) as client:
        pages = list(client.by_ids("orders", wanted))
    assert sorted(ids(pages)) == list(range(1, 251)) and len(magento.requests) == 3
    first = magento_query(magento.requests[0].url.query.decode())["searchCriteria"]
    assert first["filter_groups"]["0"]["filters"]["0"]["condition_type"] == "in"
    assert first["filter_groups"]["0"]["filters"]["0"]["value"] == ",".join(str(i) for i in range(1, 101))
    assert first["pageSize"] == "100" and first["currentPage"] == "1"
