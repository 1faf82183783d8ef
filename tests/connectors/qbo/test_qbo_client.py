"""QboClient against the QBO emulator: writes, SyncToken, requestid replay, throttling, batch, CDC."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.errors import NotFound, RateLimited, RejectedError
from ml_connector.connectors.qbo import (
    BatchOp,
    CdcWindowTooLong,
    MemoryTokenStore,
    PurchaseOrder,
    QboClient,
    QboConfig,
    StaleObject,
)
from ml_connector.connectors.qbo.client import dumps, quote_literal
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.sandbox.qbo.limits import QboLimits


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make(emu: QboEmulator, *, sleeps: list | None = None, on_sleep=None, attempts: int = 5):
    c = emu.credentials()
    cfg = QboConfig(realm_id=c["realm_id"], client_id=c["client_id"], client_secret=c["client_secret"],
                    base_url=c["base_url"], token_url=c["token_url"])
    sleeps = [] if sleeps is None else sleeps

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if on_sleep:
            on_sleep(seconds)

    http = httpx.Client(transport=emu.transport())
    return QboClient(cfg, MemoryTokenStore(c["refresh_token"]), http=http,
                     policy=RetryPolicy(attempts=attempts, sleep=sleep))


def seeded(**kwargs) -> tuple[QboEmulator, dict]:
    emu = QboEmulator(**kwargs)
    ids = {"vendor": emu.add_vendor("Acme Supply")["Id"], "item": emu.add_item("Widget", unit_price="25.10")["Id"],
           "account": emu.add_account("Supplies")["Id"], "customer": emu.add_customer("Jane Buyer")["Id"]}
    return emu, ids


def po_body(ids: dict, doc: str = "PO-1001") -> dict:
    return {"VendorRef": {"value": ids["vendor"]}, "DocNumber": doc, "TxnDate": "2025-06-01", "Line": [
        {"DetailType": "ItemBasedExpenseLineDetail", "Amount": Decimal("0.1"),
         "ItemBasedExpenseLineDetail": {"ItemRef": {"value": ids["item"]}, "Qty": 1, "UnitPrice": Decimal("0.1")}},
        {"DetailType": "AccountBasedExpenseLineDetail", "Amount": Decimal("0.2"),
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": ids["account"]}}}]}


def test_create_read_and_money_stay_decimal_and_every_call_has_minorversion():
    emu, ids = seeded()
    client = make(emu)
    po = client.create("PurchaseOrder", po_body(ids))
    assert isinstance(po, PurchaseOrder) and po.sync_token == "0" and po.po_status == "Open"
    assert po.total_amt == Decimal("0.3")  # 0.1 + 0.2 without float drift
    again = client.read("PurchaseOrder", po.id)
    assert again.line[0].item_based_expense_line_detail.unit_price == Decimal("0.1")
    assert again.meta_data.last_updated_time.tzinfo is not None
    assert emu.minorversions and set(emu.minorversions) == {"75"}


def test_update_is_sparse_by_default_and_full_update_clears_what_is_left_out():
    emu, ids = seeded()
    client = make(emu)
    po = client.create("PurchaseOrder", {**po_body(ids), "Memo": "keep me", "PrivateNote": "note"})
    sparse = client.update("PurchaseOrder", {"Id": po.id, "SyncToken": po.sync_token, "Memo": "changed"})
    assert sparse.sync_token == "1" and sparse.memo == "changed" and sparse.private_note == "note"
    full_body = {**po_body(ids), "Id": po.id, "SyncToken": sparse.sync_token}
    full = client.update("PurchaseOrder", full_body, sparse=False)
    assert full.sync_token == "2" and full.memo is None and full.private_note is None


def test_stale_synctoken_raises_stale_object_then_reread_and_retry_succeeds():
    emu, ids = seeded()
    client = make(emu)
    po = client.create("PurchaseOrder", po_body(ids))
    emu.edit("PurchaseOrder", po.id, Memo="changed in the QBO UI")
    with pytest.raises(StaleObject) as info:
        client.update("PurchaseOrder", {"Id": po.id, "SyncToken": po.sync_token, "PrivateNote": "ours"})
    assert info.value.code == "5010" and info.value.status == 400
    fresh = client.read("PurchaseOrder", po.id)
    done = client.update("PurchaseOrder", {"Id": po.id, "SyncToken": fresh.sync_token, "PrivateNote": "ours"})
    assert done.sync_token == "2" and done.memo == "changed in the QBO UI" and done.private_note == "ours"


def test_fault_inside_a_200_is_still_typed():
    emu, ids = seeded(faults_in_200=True)
    client = make(emu)
    po = client.create("PurchaseOrder", po_body(ids))
    emu.edit("PurchaseOrder", po.id, Memo="x")
    with pytest.raises(StaleObject) as info:
        client.update("PurchaseOrder", {"Id": po.id, "SyncToken": "0", "Memo": "y"})
    assert info.value.status == 200
    with pytest.raises(NotFound):
        client.read("Vendor", "99999")


class LoseFirstWrite(FaultPlan):
    """The first write commits and then loses its response."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    def lose_response(self) -> bool:
        if not self.lost:
            self.lost = True
            return True
        return False


def test_retry_after_a_lost_response_reuses_the_requestid_and_creates_nothing_twice():
    emu, ids = seeded(faults=LoseFirstWrite())
    sleeps: list[float] = []
    client = make(emu, sleeps=sleeps)
    po = client.create("PurchaseOrder", po_body(ids), request_id="ledger-key-0001")
    assert len(emu.entities("PurchaseOrder")) == 1 and emu.replays == 1 and len(sleeps) == 1
    assert po.id == emu.entities("PurchaseOrder")[0]["Id"]
    # A later run that finds an intent without an outcome posts again with the same key.
    again = client.create("PurchaseOrder", po_body(ids), request_id="ledger-key-0001")
    assert again.id == po.id and len(emu.entities("PurchaseOrder")) == 1 and emu.replays == 2


def test_writes_carry_a_requestid_and_it_is_not_shared_between_writes():
    emu, ids = seeded()
    seen: list[httpx.Request] = []
    transport = emu.transport()

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return transport.handle_request(request)

    client = make(emu)
    client.http = httpx.Client(transport=httpx.MockTransport(spy), auth=client.auth)
    client.create("PurchaseOrder", po_body(ids, "PO-A"))
    client.create("PurchaseOrder", po_body(ids, "PO-B"))
    writes = [r for r in seen if r.url.path.endswith("/purchaseorder")]
    request_ids = [r.url.params.get("requestid") for r in writes]
    assert len(writes) == 2 and all(request_ids) and len(set(request_ids)) == 2
    assert all(r.url.params["minorversion"] == "75" for r in seen if "/v3/" in r.url.path)
    with pytest.raises(ValueError, match="at most 50"):
        client.create("PurchaseOrder", po_body(ids), request_id="x" * 51)


def test_throttling_answers_429_and_the_client_waits_and_retries():
    clock = Clock()
    emu, ids = seeded(limits=QboLimits(per_minute=3), clock=clock)

    def advance(seconds: float) -> None:
        clock.now += seconds

    sleeps: list[float] = []
    client = make(emu, sleeps=sleeps, on_sleep=advance)
    for _ in range(3):
        client.find_by_docnumber("PurchaseOrder", "none")
    client.read("Vendor", ids["vendor"])  # the 4th call in the minute is throttled, waited out, retried
    assert emu.throttle.rejected == 1 and sleeps and sleeps[0] >= 60.0


def test_throttling_that_outlasts_the_retries_raises_rate_limited():
    clock = Clock()
    emu, _ = seeded(limits=QboLimits(per_minute=1), clock=clock)
    client = make(emu, attempts=3)
    client.ping()
    with pytest.raises(RateLimited) as info:
        client.ping()  # the fake clock never moves, so the window never frees up
    assert info.value.code == "3001" and info.value.retry_after == 60.0 and emu.throttle.rejected == 3


def test_injected_429_burst_honours_its_retry_after():
    emu, ids = seeded(faults=FaultPlan(rate_429=1.0, burst=2, retry_after=0.5))
    emu.faults.rate_429 = 0.0  # only the burst already armed below
    emu.faults._burst_left = 2
    sleeps: list[float] = []
    client = make(emu, sleeps=sleeps)
    client.read("Vendor", ids["vendor"])
    assert len(sleeps) == 2 and all(0.5 <= s < 0.6 for s in sleeps)


def test_batch_with_one_failing_op_posts_the_rest():
    emu, ids = seeded()
    client = make(emu)
    po = client.create("PurchaseOrder", po_body(ids))
    emu.edit("PurchaseOrder", po.id, Memo="moved on")
    results = client.batch([
        BatchOp("create", "Vendor", {"DisplayName": "New Vendor"}),
        BatchOp("update", "PurchaseOrder", {"Id": po.id, "SyncToken": "0", "Memo": "stale"}),
        BatchOp("create", "PurchaseOrder", po_body(ids, "PO-2002")),
        BatchOp("query", body="SELECT * FROM Vendor WHERE DisplayName = 'Acme Supply'"),
    ])
    assert [r.b_id for r in results] == ["b0", "b1", "b2", "b3"]
    assert results[0].ok and results[0].object.display_name == "New Vendor"
    assert not results[1].ok and isinstance(results[1].error(), StaleObject)
    assert results[2].ok and results[2].object.doc_number == "PO-2002"
    assert results[3].query_response["Vendor"][0]["DisplayName"] == "Acme Supply"
    assert len(emu.entities("PurchaseOrder")) == 2


def test_batch_items_cannot_see_objects_created_earlier_in_the_same_batch():
    emu, ids = seeded()
    client = make(emu)
    results = client.batch([
        BatchOp("create", "Vendor", {"DisplayName": "Brand New"}),
        BatchOp("create", "PurchaseOrder", {**po_body(ids), "VendorRef": {"value": str(int(ids["customer"]) + 1)}}),
    ])
    assert results[0].ok and not results[1].ok
    assert isinstance(results[1].error(), RejectedError) and results[1].error().code == "2500"


def test_large_batches_are_chunked_by_30_and_a_retried_call_replays_every_chunk():
    emu, _ = seeded()
    client = make(emu)
    ops = [BatchOp("create", "Vendor", {"DisplayName": f"Vendor {n}"}) for n in range(65)]
    results = client.batch(ops, request_id="batch-key-1")
    assert len(results) == 65 and all(r.ok for r in results)
    assert len(emu.entities("Vendor")) == 66
    again = client.batch(ops, request_id="batch-key-1")  # e.g. the task reran after a crash
    assert [r.object.id for r in again] == [r.object.id for r in results]
    assert len(emu.entities("Vendor")) == 66 and emu.replays == 3
    with pytest.raises(ValueError, match="at most 10"):
        client.batch([BatchOp("create", "Vendor", {"DisplayName": "x"}, b_id="much-too-long-id")])


def test_cdc_refuses_a_window_over_30_days_before_calling():
    emu, _ = seeded()
    client = make(emu)
    calls = emu.requests
    with pytest.raises(CdcWindowTooLong, match="at most 30 days"):
        client.cdc(["PurchaseOrder"], datetime.now(UTC) - timedelta(days=31))
    with pytest.raises(ValueError, match="timezone-aware"):
        client.cdc(["PurchaseOrder"], datetime.now())
    assert emu.requests == calls


def test_cdc_reports_changes_and_deletions():
    emu, ids = seeded()
    client = make(emu)
    since = datetime.now(UTC) - timedelta(minutes=5)
    keep = client.create("PurchaseOrder", po_body(ids, "PO-keep"))
    gone = client.create("PurchaseOrder", po_body(ids, "PO-gone"))
    client.delete("PurchaseOrder", gone.id, gone.sync_token)
    result = client.cdc(["PurchaseOrder", "Vendor"], since)
    assert [o.id for o in result.changed("PurchaseOrder")] == [keep.id]
    assert result.deleted("PurchaseOrder") == [gone.id]
    assert {o.id for o in result.changed("Vendor")} == {ids["vendor"]} and not result.capped


def test_find_by_docnumber_quotes_the_literal():
    emu, ids = seeded()
    client = make(emu)
    assert client.find_by_docnumber("PurchaseOrder", "PO-1") is None
    po = client.create("PurchaseOrder", po_body(ids, "O'Brien\\1"))
    found = client.find_by_docnumber("PurchaseOrder", "O'Brien\\1")
    assert found is not None and found.id == po.id
    assert quote_literal("O'Brien") == "'O\\'Brien'"


def test_iter_query_pages_with_startposition_until_a_short_page():
    emu, _ = seeded()
    for n in range(249):
        emu.add_vendor(f"Paged Vendor {n:03d}")
    client = make(emu)
    pages = client.query_pages("Vendor", "DisplayName LIKE 'Paged%'", page_size=100, order_by="DisplayName")
    sizes = [len(page) for page in pages]
    assert sizes == [100, 100, 49] and pages.pages == 3 and not pages.truncated
    names = [v.display_name for v in client.iter_query("Vendor", "DisplayName LIKE 'Paged%'", 100)]
    assert len(names) == 249 == len(set(names))
    with pytest.raises(ValueError):
        client.query_pages("Vendor", "Active = true MAXRESULTS 5")


def test_unknown_entity_names_are_refused_before_any_call():
    emu, _ = seeded()
    client = make(emu)
    with pytest.raises(ValueError):
        client.read("Vendor; DROP", "1")
    with pytest.raises(ValueError):
        client.create("PurchaseOrder", {"Id": "1"})
    with pytest.raises(ValueError, match="SyncToken"):
        client.update("PurchaseOrder", {"Id": "1"})


def test_decimal_amounts_go_out_as_json_numbers():
    text = dumps({"Amount": Decimal("25.10"), "Qty": Decimal("3"), "TxnDate": datetime(2025, 6, 1).date()})
    assert text == '{"Amount":25.1,"Qty":3,"TxnDate":"2025-06-01"}'


def test_the_limiter_hook_wraps_every_attempt_and_flags_batch_calls():
    """The company's limits (runtime/qbo_limits.py) are taken per HTTP attempt, retries included,
    and a batch call says so; the connector itself knows nothing of Prefect."""
    import contextlib

    emu, ids = seeded()
    client = make(emu)
    client.query("SELECT * FROM Vendor", 1, 1)  # authenticated before the fault below
    emu.faults.rate_5xx = 1.0
    taken: list[bool] = []
    inside: list[bool] = []

    @contextlib.contextmanager
    def limiter(*, batch: bool):
        taken.append(batch)
        inside.append(True)
        try:
            yield
        finally:
            inside.pop()
            emu.faults.rate_5xx = 0.0  # only the first attempt gets the 503; the retry does not

    client.limiter = limiter
    client.query("SELECT * FROM Vendor", 1, 10)
    assert taken == [False, False]  # the injected 503, then the retry: two attempts, two slots
    client.batch([BatchOp("create", "PurchaseOrder", po_body(ids, "PO-L1"), b_id="b0")], request_id="lim-1")
    assert taken[-1] is True and inside == []  # every slot given back
