"""The Adobe Commerce client (``connectors/adobe``) against the emulator, in process.

Both were written from the same reference sheet by different people; these tests are where a
disagreement between them shows: every auth mode, paging to the end of a list that repeats its
last page, the incremental window with its cursor, the writes issues 4 and 5 need, and the
seeded bad documents arriving as rejects rather than exceptions.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.adobe.client import AdobeClient
from ml_connector.connectors.adobe.config import AdobeConfig
from ml_connector.connectors.adobe.search import SearchCriteria
from ml_connector.connectors.errors import AuthError, NotFound
from ml_connector.sandbox.adobe import AdobeEmulator
from ml_connector.sandbox.adobe.seed import seed_adobe
from ml_connector.sandbox.base import FaultPlan

FAST = RetryPolicy(sleep=lambda seconds: None)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def world(orders: int = 40, **options):
    clock = Clock()
    emu = AdobeEmulator(clock=clock, **options)
    with emu.lock:
        seeded = seed_adobe(emu.store, orders=orders, seed=11)
    return emu, clock, seeded


def config(emu: AdobeEmulator, mode: str, **extra) -> AdobeConfig:
    c = emu.credentials()
    if mode == "ims":
        return AdobeConfig(base_url=c["saas_url"], deployment="saas", ims_client_id=c["ims_client_id"],
                           ims_client_secret=c["ims_client_secret"], ims_org_id=c["ims_org_id"],
                           ims_token_url=c["ims_token_url"], **extra)
    fields = {"oauth1": dict(consumer_key=c["consumer_key"], consumer_secret=c["consumer_secret"],
                             access_token=c["access_token"], access_token_secret=c["access_token_secret"]),
              "bearer": dict(access_token=c["access_token"]),
              "admin": dict(username=c["username"], password=c["password"])}[mode]
    return AdobeConfig(base_url=c["base_url"], store_code="default", deployment="paas", auth_mode=mode, **fields, **extra)


def client(emu: AdobeEmulator, mode: str, clock=time.time, **extra) -> AdobeClient:
    return AdobeClient(config(emu, mode, **extra), http=httpx.Client(transport=emu.transport()), policy=FAST, clock=clock)


# -- every auth mode ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode,extra,options", [
    ("oauth1", {}, {}),
    ("oauth1", {"signature_method": "HMAC-SHA1"}, {}),
    ("bearer", {}, {"bearer_enabled": True}),
    ("admin", {}, {}),
    ("ims", {}, {}),
])
def test_each_auth_mode_reads_orders(mode, extra, options):
    emu, _, _ = world(orders=10, **options)
    with client(emu, mode, **extra) as adobe:
        page = adobe.search("orders", SearchCriteria().page(1, 5))
        order = adobe.get_order(page.items[0].entity_id)
    assert len(page.items) == 5 and page.total_count == len(emu.store.rows("order"))
    assert order.increment_id == page.items[0].increment_id
    assert emu.auth_modes[mode] >= 2 and set(emu.auth_modes) == {mode}  # the mode the URL and secrets chose


def test_bearer_mode_is_refused_while_the_store_has_it_off():
    emu, _, _ = world(orders=3)
    with client(emu, "bearer") as adobe, pytest.raises(AuthError) as caught:
        adobe.search("orders", SearchCriteria().page(1, 5))
    assert "consumer isn't authorized to access Magento_Sales::actions_view" in str(caught.value)


def test_admin_and_ims_tokens_are_renewed_after_they_expire():
    emu, clock, _ = world(orders=5)
    with client(emu, "admin") as admin, client(emu, "ims") as ims:
        admin.search("orders", SearchCriteria().page(1, 1))
        ims.search("orders", SearchCriteria().page(1, 1))
        clock.now += 86_400  # past both lifetimes (4 h and 24 h) on the emulator's clock
        admin.search("orders", SearchCriteria().page(1, 1))
        ims.search("orders", SearchCriteria().page(1, 1))
    assert emu.admin.issued == 2 and emu.ims.issued == 2


# -- paging ------------------------------------------------------------------------------------


@pytest.mark.parametrize("past_end,page_size", [("repeat", 7), ("repeat", 9), ("empty", 7)])
def test_paging_to_the_end_reads_everything_once_and_stops(past_end, page_size):
    emu, _, seeded = world(orders=40, past_end=past_end)  # 45 orders: 9 divides it, 7 does not
    total = len(emu.store.rows("order"))
    with client(emu, "oauth1") as adobe:
        before = emu.requests
        pages = list(adobe.pages("orders", page_size=page_size))
        requests = emu.requests - before
    ids = [o.entity_id for p in pages for o in p.items] + [int(r.key) for p in pages for r in p.rejects]
    assert sorted(ids) == sorted(o["entity_id"] for o in emu.store.rows("order")) and len(ids) == len(set(ids))
    assert requests == math.ceil(total / page_size)  # stopped on total_count, never asked past the end


def test_bad_seeded_orders_arrive_as_rejects_not_exceptions():
    emu, _, seeded = world(orders=20)
    with client(emu, "oauth1") as adobe:
        pages = list(adobe.pages("orders", page_size=50))
    rejects = {r.raw["increment_id"]: r.error for p in pages for r in p.rejects}
    assert seeded.bad.get(next(iter(rejects))) == "bad:non-numeric-amount" and len(rejects) == 1
    assert "grand_total" in str(rejects[next(iter(rejects))])


# -- the incremental window --------------------------------------------------------------------


def test_incremental_window_and_cursor_pick_up_a_later_change():
    emu, clock, _ = world(orders=40)
    with client(emu, "oauth1", clock=clock) as adobe:
        feed = adobe.changes("invoices", since=datetime(2026, 6, 1, tzinfo=UTC), page_size=10)
        first = list(feed)
        seen = {i.entity_id for p in first for i in p.items}
        assert seen == {i["entity_id"] for i in emu.store.rows("invoice")}
        cursor = first[-1].cursor
        clock.now += 600
        order = next(o for o in emu.store.rows("order") if o["state"] == "new" and isinstance(o["grand_total"], Decimal))
        with emu.lock:
            new = emu.store.invoice(order["entity_id"])
        clock.now += 5
        later = list(adobe.changes("invoices", cursor, page_size=10))
    got = [i.entity_id for p in later for i in p.items]
    assert got[-1] == new["entity_id"]
    overlap = {i["entity_id"] for i in emu.store.rows("invoice") if i["updated_at"] >= newest_minus_2m(first)}
    assert set(got[:-1]) == overlap - {new["entity_id"]}  # only the 2-minute overlap is read again


def newest_minus_2m(pages) -> str:
    newest = max(i.updated_at for p in pages for i in p.items)
    return (newest - timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")


def test_window_until_is_exclusive_and_sorted_by_updated_at():
    emu, clock, _ = world(orders=40)
    rows = sorted(emu.store.rows("order"), key=lambda o: (o["updated_at"], o["entity_id"]))
    pivot = datetime.strptime(rows[len(rows) // 2]["updated_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    with client(emu, "admin", clock=clock) as adobe:
        pages = list(adobe.changes("orders", since=pivot - timedelta(days=3), until=pivot, page_size=4))
    stamps = [(str(o.updated_at), o.entity_id) for p in pages for o in p.items]
    assert stamps == sorted(stamps)
    expected = {o["entity_id"] for o in rows if pivot - timedelta(days=3) <= datetime.strptime(
        o["updated_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) < pivot}
    got = {o.entity_id for p in pages for o in p.items} | {int(r.key) for p in pages for r in p.rejects}
    assert got == expected and expected


# -- writes ------------------------------------------------------------------------------------


def test_order_comment_and_customer_attribute_writes():
    emu, _, seeded = world(orders=10)
    order_id = emu.store.rows("order")[0]["entity_id"]
    customer_id = emu.store.rows("customer")[1]["id"]
    with client(emu, "oauth1") as adobe:
        assert adobe.add_order_comment(order_id, "Intacct ARINVOICE 1042") is True
        assert adobe.add_order_comment(order_id, "Intacct ARINVOICE 1042") is False  # already there
        updated = adobe.set_customer_attribute(customer_id, "intacct_customer_id", "C-777")
    assert updated.attribute("intacct_customer_id") == "C-777"
    assert [h["comment"] for h in emu.document("order", order_id)["status_histories"]] == ["Intacct ARINVOICE 1042"]
    stored = emu.document("customer", customer_id)["custom_attributes"]
    assert {"attribute_code": "intacct_customer_id", "value": "C-777"} in stored


def test_a_comment_whose_answer_is_lost_is_written_once():
    emu, _, _ = world(orders=5)
    order_id = emu.store.rows("order")[0]["entity_id"]
    with client(emu, "oauth1") as adobe:
        adobe.get_order(order_id)
        emu.faults = FaultPlan(rate_lost_write=1.0)
        assert adobe.add_order_comment(order_id, "posted") is True
    assert [h["comment"] for h in emu.document("order", order_id)["status_histories"]] == ["posted"]


def test_company_credit_reads_and_writes():
    emu, _, _ = world(orders=10)
    with client(emu, "admin") as adobe:
        credit = adobe.get_company_credit(1)
        changed = adobe.update_company_credit(credit.id, credit_limit=Decimal("7500"))
        assert adobe.change_credit_balance(credit.id, Decimal("100"), operation_type=2, currency=credit.currency_code)
        after = adobe.get_company_credit(1)
    assert changed.credit_limit == Decimal("7500")
    assert after.balance == credit.balance + 100 and after.available_limit == Decimal("7500") + after.balance


def test_missing_entity_is_not_found_with_the_placeholders_filled():
    emu, _, _ = world(orders=3)
    with client(emu, "oauth1") as adobe, pytest.raises(NotFound) as caught:
        adobe.get_customer(9999)
    assert "customerId = 9999" in str(caught.value) and "%field" not in str(caught.value)
