"""The keyset change feed against the Adobe Commerce emulator served over real HTTP (uvicorn),
with Commerce changing while a walk is under way.

The world: twelve orders updated a minute apart, an hour ago; pages of four. Between pages 1
and 2, order 2 (already read) and order 7 (not yet read) are updated, so they move to the end
of the ``updated_at`` order, past the window's ``until``, and order 13 is placed; between pages
2 and 3, orders 3 and 11 move and order 14 is placed. A flow stores each page's cursor once the
page is durable; the next run starts ``OVERLAP`` before the stored cursor.

Measured with the offset reader this feed replaced (the connector's offset paginator over one
sorted window, as ``AdobeClient.changes`` walked it before): its page 2 was [6, 8, 9, 10],
because order 2 left the window and every later order shifted one place left, so order 5 was
never read; its cursor ended at order 12 (minute 12), the next run started two minutes earlier
(minute 10), and order 5 (minute 5) was lost for good: 13 of 14 orders seen. The second test
repeats that walk and asserts the loss, so the scenario is shown to be hostile; the keyset walk
of the first test reads all 14, each in its newest version.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest

from ml_connector.connectors.adobe import OVERLAP, AdobeClient, AdobeConfig, SearchPaginator, SyncCursor, window_criteria
from ml_connector.sandbox.adobe import AdobeEmulator
from ml_connector.sandbox.serve import serve_in_thread

LINE = {"sku": "WIDGET", "name": "Widget", "product_id": 1, "qty": 1, "price": "10.00"}
PAGE = 4
STAMP = "%Y-%m-%d %H:%M:%S"


class Clock:
    """The emulator's clock, moved by hand; it starts at the real time because OAuth 1.0a
    requests carry the client's real timestamp and the emulator checks it against this clock."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.start = (datetime.fromtimestamp(self.clock.now, UTC) - timedelta(hours=1)).replace(second=0)
        self.emulator = AdobeEmulator(clock=self.clock)
        with self.emulator.lock:
            self.emulator.store.add_product("WIDGET", "Widget", "10.00")
            for minute in range(1, 13):
                self._place(created_at=(self.start + timedelta(minutes=minute)).strftime(STAMP))
        self.served = serve_in_thread(self.emulator)
        c = self.emulator.credentials()
        self.client = AdobeClient(AdobeConfig(
            base_url=c["base_url"], store_code="default", consumer_key=c["consumer_key"],
            consumer_secret=c["consumer_secret"], access_token=c["access_token"],
            access_token_secret=c["access_token_secret"]), clock=self.clock)

    def _place(self, created_at: str | None = None) -> None:
        guest = {"email": "guest@example.net", "firstname": "Ada", "lastname": "Guest"}
        self.emulator.store.place_order(store_id=1, lines=[LINE], guest=guest, created_at=created_at)

    def change(self, moved: tuple[int, ...]) -> None:
        """Ten seconds later: ``moved`` orders are updated (a comment) and one order is placed."""
        self.clock.now += 10
        with self.emulator.lock:
            for order_id in moved:
                self.emulator.store.add_comment(order_id, {"comment": "changed during the walk"})
            self._place()

    def orders(self) -> dict[int, str]:
        with self.emulator.lock:
            return {o["entity_id"]: o["updated_at"] for o in self.emulator.store.rows("order")}

    def close(self) -> None:
        self.client.close()
        self.served.stop()


CHANGES = {1: (2, 7), 2: (3, 11)}  # after page n: the orders that move (one read, one not yet)


@pytest.fixture
def world():
    made = World()
    yield made
    made.close()


def keyset_walk(world: World, seen: dict[int, str], stored: list[str]) -> list[list[int]]:
    """The first run: the change feed from ``world.start``, the world changing between pages."""
    pages = []
    for number, page in enumerate(world.client.changes("orders", since=world.start, page_size=PAGE), 1):
        seen.update({o.entity_id: o.updated_at.strftime(STAMP) for o in page.items})
        stored.append(page.cursor)  # the page is durable
        pages.append([o.entity_id for o in page.items])
        if number in CHANGES:
            world.change(CHANGES[number])
    return pages


def offset_walk(world: World, seen: dict[int, str], stored: list[str]) -> list[list[int]]:
    """The first run as the offset reader made it: the connector's offset paginator (guards
    against Magento's repeated last page, dedup by id) over one sorted window, pages 1, 2, 3."""
    until = datetime.fromtimestamp(int(world.clock.now), UTC)
    criteria = window_criteria(world.start, until, None)
    walk = SearchPaginator(lambda number, size: world.client.search("orders", criteria.page(number, size)),
                           page_size=PAGE)
    pages, cursor = [], None
    for number, page in enumerate(walk, 1):
        cursor = SyncCursor.after(cursor, page)
        seen.update({o.entity_id: o.updated_at.strftime(STAMP) for o in page.items})
        stored.append(cursor.encode())
        pages.append([o.entity_id for o in page.items])
        if number in CHANGES:
            world.change(CHANGES[number])
    return pages


def next_run(world: World, seen: dict[int, str], stored: str) -> None:
    """A minute later, the next run from the stored cursor (``OVERLAP`` before it)."""
    world.clock.now += 60
    for page in world.client.changes("orders", stored, page_size=PAGE):
        seen.update({o.entity_id: o.updated_at.strftime(STAMP) for o in page.items})


def test_a_walk_under_changes_loses_nothing_and_reads_each_newest_version(world):
    seen: dict[int, str] = {}
    stored: list[str] = []
    assert keyset_walk(world, seen, stored) == [[1, 2, 3, 4], [5, 6, 8, 9], [10, 12]]
    cursors = [SyncCursor.decode(c) for c in stored]
    assert cursors == sorted(cursors) and cursors[-1].id == 12
    next_run(world, seen, stored[-1])
    assert seen == world.orders() and len(seen) == 14  # every order, each in its newest version


def test_offset_paging_over_the_same_changes_loses_an_order(world):
    seen: dict[int, str] = {}
    stored: list[str] = []
    assert offset_walk(world, seen, stored) == [[1, 2, 3, 4], [6, 8, 9, 10], [12]]
    last = SyncCursor.decode(stored[-1])
    assert last.id == 12 and last.updated_at - OVERLAP > world.start + timedelta(minutes=5)
    next_run(world, seen, stored[-1])
    assert set(world.orders()) - set(seen) == {5}


def test_a_run_that_dies_mid_walk_resumes_from_its_last_durable_page(world):
    seen: dict[int, str] = {}
    durable: list[str] = []
    feed = world.client.changes("orders", since=world.start, page_size=PAGE)
    for number, page in enumerate(feed, 1):
        if number == 3:
            break  # the run dies with page 3 read but not recorded: its cursor is never stored
        seen.update({o.entity_id: o.updated_at.strftime(STAMP) for o in page.items})
        durable.append(page.cursor)
        world.change(CHANGES[number])
    assert sorted(seen) == [1, 2, 3, 4, 5, 6, 8, 9]
    next_run(world, seen, durable[-1])
    assert seen == world.orders()


def test_every_request_is_page_one_of_a_keyset_window(world):
    sent: list[dict[str, str]] = []
    world.client.http.event_hooks["request"].append(lambda r: sent.append(dict(parse_qsl(r.url.query.decode()))))
    until = datetime.fromtimestamp(int(world.clock.now), UTC)
    feed = world.client.changes("orders", since=world.start, until=until, page_size=PAGE)
    pages = list(feed)
    assert [[o.entity_id for o in p.items] for p in pages] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    assert [p.more for p in pages] == [True, True, False]  # total_count says the third page holds the rest
    assert len(sent) == 3 and not feed.truncated and not feed.stalled
    group = "searchCriteria[filter_groups][{}][filters][{}][{}]"
    for query, page_before in zip(sent, [None, *pages[:-1]], strict=True):
        assert query["searchCriteria[currentPage]"] == "1" and query["searchCriteria[pageSize]"] == str(PAGE)
        assert [query[f"searchCriteria[sortOrders][{n}][{k}]"] for n in (0, 1) for k in ("field", "direction")] == \
            ["updated_at", "ASC", "entity_id", "ASC"]
        if page_before is None:
            assert query[group.format(0, 0, "condition_type")] == "gteq"
            assert query[group.format(0, 0, "value")] == world.start.strftime(STAMP)
            continue
        after = SyncCursor.decode(page_before.after)  # one group, two filters: OR-ed
        assert (query[group.format(1, 0, "field")], query[group.format(1, 0, "condition_type")],
                query[group.format(1, 0, "value")]) == ("updated_at", "gt", after.updated_at.strftime(STAMP))
        assert (query[group.format(1, 1, "field")], query[group.format(1, 1, "condition_type")],
                query[group.format(1, 1, "value")]) == ("entity_id", "gt", str(after.id))
        assert (query[group.format(2, 0, "condition_type")], query[group.format(2, 0, "value")]) == \
            ("lt", until.strftime(STAMP))
