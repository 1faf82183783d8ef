"""Adobe Commerce -> Intacct payables revisions end to end: an order edited, cancelled, refunded
or edited by reorder after its AP bill posted; a cancellation before anything posted; an older
content after a newer one; a paid bill and a purchase order that need a person; a run killed
between a revision's intent and its outcome. Real engine, ledger and emulators (tests/flows/conftest.py)."""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timedelta

import pytest

from ml_connector.flows.commerce_to_intacct_ap import commerce_to_intacct_ap
from ml_connector.ledger.schema import POSTED, POSTING, QUARANTINED, SKIPPED
from ml_connector.ledger.store import Ledger
from ml_connector.mappings.commerce_ap_documents import INTEGRATION, EntityPage, page_rows
from ml_connector.mappings.commerce_o2c_rows import dumps as o2c_dumps
from ml_connector.mappings.commerce_o2c_rows import entity_row
from ml_connector.runtime.tenant import tenant
from ml_connector.sandbox.adobe.seed import seed_adobe
from ml_connector.sandbox.base import FaultPlan

TENANT = "demo-commerce"


def run(**params):
    state = commerce_to_intacct_ap(tenant=TENANT, return_state=True, **params)
    return state, state.result(raise_on_failure=False)


def seeded(world) -> None:
    from ml_connector.demo.parts.commerce_intacct_ap import seed_procure

    with world.adobe.lock:
        seed_adobe(world.adobe.store, orders=2, seed=7, bad=False)
        seed_procure(world.intacct, world.adobe.store, world.mapping, existing_vendors=True)


def place(world, *, email: str, qty: int = 2, po: str | None = None) -> dict:
    """A new order of ``qty`` of the first product by a new customer, placed now."""
    with world.adobe.lock:
        store = world.adobe.store
        product = store.rows("product")[0]
        customer = store.create_customer({"email": email, "firstname": "Ada", "lastname": "Ng"})
        if po:  # purchase order lines name Intacct items
            world.intacct.add_item(product["sku"], product["name"], "Inventory")
        line = {"sku": product["sku"], "name": product["name"], "product_id": product["id"],
                "price": product["price"], "qty": qty}
        return store.place_order(store_id=1, lines=[line], customer=customer,
                                 method="purchaseorder" if po else "checkmo", po_number=po)


def bills(world, number: str) -> list[dict]:
    return [b for b in world.intacct.bills() if b["RECORDID"] == f"CO-{number}"]


def row(world, order: dict):
    [found] = [r for r in world.ledger.documents(INTEGRATION)
               if (r.doc_type, r.natural_key) == ("order", str(order["entity_id"]))]
    return found


def not_stale(world) -> None:
    assert world.ledger.latest_revisions(INTEGRATION, stale_only=True) == []


def posted_once(world, order: dict) -> dict:
    """Run once; the order's one bill."""
    state, _ = run()
    assert state.is_completed(), state
    [bill] = bills(world, order["increment_id"])
    return bill


def test_an_order_edited_after_its_bill_posted_updates_the_same_bill_once(commerce_world_factory):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="edit@example.org", qty=2)
    before = posted_once(world, order)
    with world.adobe.lock:
        world.adobe.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 5})
    state, counts = run()
    assert state.is_completed(), state
    assert counts["posted"] == 1
    [after] = bills(world, order["increment_id"])
    assert after["RECORDNO"] == before["RECORDNO"] and after["controlid"] == before["controlid"]
    assert after["total"] == world.adobe.store.get("order", order["entity_id"])["grand_total"] > before["total"]
    assert any(" x 5 @ " in line["ENTRYDESCRIPTION"] for line in after["lines"])
    found = row(world, order)
    assert (found.status, found.revision, found.target_id) == (POSTED, 2, before["RECORDNO"])
    not_stale(world)
    _, again = run()  # the edit read again (the feed's overlap) is old news
    assert again["posted"] == 0 and bills(world, order["increment_id"])[0]["total"] == after["total"]


@pytest.mark.parametrize("policy", ["delete", "reverse"])
def test_an_order_cancelled_after_its_bill_posted_deletes_or_reverses_the_bill(commerce_world_factory, monkeypatch,
                                                                              policy):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="cancel@example.org")
    before = posted_once(world, order)
    res = tenant(TENANT)
    monkeypatch.setattr(res, "mapping", res.mapping.model_copy(update={"bill_cancel": policy}))
    with world.adobe.lock:
        assert world.adobe.store.cancel(order["entity_id"]) is not None
    state, counts = run()
    assert state.is_completed(), state
    left = bills(world, order["increment_id"])
    if policy == "delete":
        assert left == []
    else:
        [reversed_bill] = left
        assert reversed_bill["RECORDNO"] == before["RECORDNO"] and reversed_bill["STATE"] == "Reversed"
    found = row(world, order)
    assert (found.status, found.revision, found.effect) == (POSTED, 2, "cancel")
    not_stale(world)
    assert world.intacct.top_level_writes() == []  # the cancel ran in the bill's entity


def test_an_order_cancelled_before_any_run_posts_nothing(commerce_world_factory):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="early@example.org")
    with world.adobe.lock:
        world.adobe.store.cancel(order["entity_id"])
    state, _ = run()
    assert state.is_completed(), state
    assert bills(world, order["increment_id"]) == []
    found = row(world, order)
    assert found.status == SKIPPED and "cancelled before any original" in found.last_error


def test_an_older_content_after_a_newer_one_is_superseded_and_never_applied(commerce_world_factory):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="late@example.org", qty=2)
    old = copy.deepcopy(world.adobe.store.get("order", order["entity_id"]))
    with world.adobe.lock:
        world.adobe.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 4},
                                     when=_later(old["updated_at"], 60))
    bill = posted_once(world, order)
    commerce = tenant(TENANT).commerce("procure")
    late = page_rows(EntityPage("orders", items=[_jsonable(old)]), commerce)  # a stale read arriving last
    result = world.ledger.ingest(INTEGRATION, late, "late-reader")
    assert result.superseded == 1 and not result.new_ids
    state, counts = run()
    assert counts["posted"] == 0
    assert bills(world, order["increment_id"])[0]["total"] == bill["total"]
    assert row(world, order).revision == 1
    not_stale(world)


def test_a_refund_after_posting_is_an_adjustment_and_leaves_the_bill_as_it_was(commerce_world_factory):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="refund@example.org", qty=3)
    with world.adobe.lock:
        world.adobe.store.invoice(order["entity_id"])
    before = posted_once(world, order)
    with world.adobe.lock:
        memo = world.adobe.store.refund(order["entity_id"], items={order["items"][0]["item_id"]: 1})
    state, counts = run()
    assert state.is_completed(), state
    [adjustment] = [a for a in world.intacct.ap_adjustments() if a["RECORDID"] == f"CM-{memo['increment_id']}"]
    assert adjustment["DOCNUMBER"] == before["RECORDID"]
    [after] = bills(world, order["increment_id"])
    assert (after["total"], after["WHENMODIFIED"]) == (before["total"], before["WHENMODIFIED"])  # not written
    not_stale(world)


def test_an_admin_edit_cancels_the_old_bill_and_bills_the_new_order(commerce_world_factory):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="reorder@example.org", qty=2)
    posted_once(world, order)
    product = world.adobe.store.rows("product")[0]
    with world.adobe.lock:
        new = world.adobe.store.edit_by_reorder(order["entity_id"], [
            {"sku": product["sku"], "name": product["name"], "product_id": product["id"], "price": product["price"],
             "qty": 7}])
    assert new["increment_id"] == f"{order['increment_id']}-1"
    state, _ = run()
    assert state.is_completed(), state
    assert bills(world, order["increment_id"]) == []
    [bill] = bills(world, new["increment_id"])
    assert bill["total"] == new["grand_total"]
    not_stale(world)


def test_a_change_to_a_paid_bill_needs_a_person_and_fails_the_run_with_the_reason(commerce_world_factory):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="paid@example.org")
    bill = posted_once(world, order)
    world.intacct.pay_bill(bill["RECORDID"], vendor_id=bill["VENDORID"])
    with world.adobe.lock:
        world.adobe.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 9})
    state, counts = run()
    assert state.is_failed() and counts["quarantined"] == 1, state
    found = row(world, order)
    assert found.status == QUARANTINED and found.error_class == "needs_person"
    assert f"bill {bill['RECORDID']} of vendor {bill['VENDORID']}" in found.last_error and "is paid" in found.last_error
    assert found.last_error[:100] in state.message  # the run's message names it (shortened)
    [unchanged] = bills(world, order["increment_id"])
    assert unchanged["total"] == bill["total"]
    assert [r.id for r in world.ledger.latest_revisions(INTEGRATION, stale_only=True)] == [found.id]


def test_a_purchase_order_changed_after_it_posted_needs_a_person(commerce_world_factory):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="po@example.org", po="PO-4455")
    state, _ = run()
    assert state.is_completed(), state
    placed_total = order["grand_total"]
    with world.adobe.lock:
        world.adobe.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 6})
    state, counts = run()
    assert state.is_failed() and counts["quarantined"] == 1
    found = row(world, order)
    assert found.error_class == "needs_person" and f"purchase order {order['increment_id']}" in found.last_error
    [po] = [p for p in world.intacct.po_documents() if p["DOCNO"] == order["increment_id"]]
    assert po["total"] == placed_total < order["grand_total"]  # untouched: a person changes it


@pytest.mark.parametrize("change", ["edit", "cancel"])
def test_a_run_killed_between_a_revisions_intent_and_outcome_is_recovered_once(commerce_world_factory, monkeypatch,
                                                                              change):
    world = commerce_world_factory()
    seeded(world)
    order = place(world, email=f"kill-{change}@example.org")
    before = posted_once(world, order)
    real, calls = Ledger.record_outcomes, {"n": 0}

    def killed_once(self, integration, outcomes, run_id):
        calls["n"] += 1
        if calls["n"] == 1 and integration == INTEGRATION:
            raise SystemExit("worker killed after Intacct took the revision, before the outcome")
        return real(self, integration, outcomes, run_id)

    monkeypatch.setattr(Ledger, "record_outcomes", killed_once)
    with world.adobe.lock:
        if change == "edit":
            world.adobe.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 8})
        else:
            world.adobe.store.cancel(order["entity_id"])
    with pytest.raises(SystemExit):
        commerce_to_intacct_ap(tenant=TENANT)
    assert world.ledger.status_counts(INTEGRATION).get(POSTING) == 1
    state, counts = run()
    assert state.is_completed() and counts["recovered_posted"] == 1 and counts["recovered_requeued"] == 0
    found = row(world, order)
    assert (found.status, found.revision) == (POSTED, 2)
    after = bills(world, order["increment_id"])
    if change == "cancel":
        assert after == []
    else:
        assert len(after) == 1 and after[0]["RECORDNO"] == before["RECORDNO"] and after[0]["total"] > before["total"]
    not_stale(world)


def test_a_revision_whose_write_never_landed_is_written_after_the_kill(commerce_world_factory, monkeypatch):
    from ml_connector.tasks import commerce_ap_post

    world = commerce_world_factory()
    seeded(world)
    order = place(world, email="lost@example.org")
    before = posted_once(world, order)
    real, calls = commerce_ap_post.write_changes, {"n": 0}

    def killed_before_writing_once(res, items):
        calls["n"] += 1
        if calls["n"] == 1:
            raise SystemExit("worker killed after the intent, before Intacct was called")
        return real(res, items)

    monkeypatch.setattr(commerce_ap_post, "write_changes", killed_before_writing_once)
    with world.adobe.lock:
        world.adobe.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 6})
    with pytest.raises(SystemExit):
        commerce_to_intacct_ap(tenant=TENANT)
    state, counts = run()
    assert state.is_completed() and counts["recovered_requeued"] == 1 and counts["posted"] == 1
    [after] = bills(world, order["increment_id"])
    assert after["RECORDNO"] == before["RECORDNO"] and after["total"] > before["total"]
    not_stale(world)


def test_edits_and_cancels_under_lost_writes_and_faults_reach_each_bill_exactly_once(commerce_world_factory):
    world = commerce_world_factory(intacct_faults=FaultPlan(rate_lost_write=0.4, rate_5xx=0.1, rate_429=0.1, seed=11))
    seeded(world)
    orders = [place(world, email=f"faulty-{n}@example.org", qty=1 + n) for n in range(6)]
    for _ in range(6):  # faults may leave documents received for the next run
        run()
        if not world.ledger.status_counts(INTEGRATION).get("received"):
            break
    before = {o["increment_id"]: bills(world, o["increment_id"]) for o in orders}
    assert all(len(b) == 1 for b in before.values()), before
    lost_before = world.intacct.faults.counts.get("lost_write", 0)
    with world.adobe.lock:
        for n, order in enumerate(orders):
            if n % 2:
                world.adobe.store.cancel(order["entity_id"])
            else:
                world.adobe.store.edit_order(order["entity_id"], {order["items"][0]["item_id"]: 10 + n})
    for _ in range(6):
        run()
        if not world.ledger.status_counts(INTEGRATION).get("received"):
            break
    for n, order in enumerate(orders):
        now = bills(world, order["increment_id"])
        if n % 2:
            assert now == [], order["increment_id"]
        else:
            [bill] = now
            assert bill["RECORDNO"] == before[order["increment_id"]][0]["RECORDNO"]
            assert bill["total"] == world.adobe.store.get("order", order["entity_id"])["grand_total"]
        assert (row(world, order).status, row(world, order).revision) == (POSTED, 2)
    assert max(world.intacct.count_bills_by_record_id().values()) == 1
    assert world.intacct.faults.counts.get("lost_write", 0) > lost_before  # revisions' writes were lost too
    not_stale(world)


def test_a_seeded_world_revised_between_runs_ends_with_every_bill_as_its_order_now_is(commerce_world_factory):
    from ml_connector.demo.parts.commerce_intacct_ap import seed_procure
    from ml_connector.sandbox.adobe.revise import revise_orders

    world = commerce_world_factory()
    with world.adobe.lock:
        seed_adobe(world.adobe.store, orders=40, seed=7, bad=False)
        seed_procure(world.intacct, world.adobe.store, world.mapping, existing_vendors=True)
    run()
    billed = {b["RECORDID"] for b in world.intacct.bills()}
    with world.adobe.lock:
        revised = revise_orders(world.adobe.store, seed=9, share=0.7)
    assert revised.held
    for changed in (revised.cancelled, revised.edited, revised.reordered):  # each kind hits a posted bill
        assert {f"CO-{n}" for n in changed} & billed, changed
    state, _ = run()
    by_number = {o["increment_id"]: o for o in world.adobe.store.rows("order")}
    for number in revised.cancelled:
        assert bills(world, number) == [], number
    for number, total in revised.edited.items():
        if not by_number[number]["payment"].get("po_number"):
            [bill] = bills(world, number)
            assert bill["total"] == total, number
    for old, new in revised.reordered.items():
        assert bills(world, old) == [] and [b["total"] for b in bills(world, new)] == [by_number[new]["grand_total"]]
    assert max(world.intacct.count_bills_by_record_id().values()) == 1
    stale = world.ledger.latest_revisions(INTEGRATION, stale_only=True)
    assert all(r.status == QUARANTINED for r in stale)  # only what needs a person (a changed purchase order)


def _later(stamp: str, seconds: int) -> str:
    moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S") + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _jsonable(doc: dict) -> dict:
    return json.loads(json.dumps(doc, default=str))


# -- order to cash: AR invoices ----------------------------------------------------------------

O2C = "commerce-intacct-o2c"


def run_o2c():
    from ml_connector.flows.commerce_to_intacct_o2c import commerce_to_intacct_o2c

    state = commerce_to_intacct_o2c(tenant=TENANT, return_state=True)
    return state, state.result(raise_on_failure=False)


def shipped_order(world) -> dict:
    """A new order of one simple product by a seeded customer, shipped and not invoiced: it is
    ``processing`` (an AR invoice) and Magento may still cancel it."""
    with world.adobe.lock:
        store = world.adobe.store
        product = next(p for p in store.rows("product") if p.get("type_id", "simple") == "simple")
        customer = next(c for c in store.rows("customer") if c.get("website_id", 1) == 1)
        line = {"sku": product["sku"], "name": product["name"], "product_id": product["id"],
                "price": product["price"], "qty": 1}
        order = store.place_order(store_id=1, lines=[line], customer=customer)
        store.ship(order["entity_id"])
    tick()
    return order


def tick() -> None:
    """A run reads Commerce changes up to its start, excluding that second: start after it."""
    time.sleep(1.01 - time.time() % 1)


def ar_invoices(world, order: dict) -> list[dict]:
    return [i for i in world.intacct.ar_invoices() if i["RECORDID"] == f"CO-{order['increment_id']}"]


def o2c_row(world, order: dict):
    [found] = [r for r in world.ledger.documents(O2C, doc_type="order") if r.natural_key == str(order["entity_id"])]
    return found


NO_EMAIL = "Intacct customer C-9002 has no email"  # the seeded world's one customer for a person


def finished(state) -> bool:
    """The run reached its end with nothing for a person but the seeded customer without an email."""
    quarantined = state.result(raise_on_failure=False).get("quarantined", 0) if state.is_failed() else 0
    return state.is_completed() or (quarantined == 1 and state.message.startswith("1 of ") and NO_EMAIL in state.message)


def o2c_posted(world, order: dict) -> dict:
    state, _ = run_o2c()
    assert finished(state), state
    [invoice] = ar_invoices(world, order)
    return invoice


def test_an_order_cancelled_after_its_ar_invoice_posted_reverses_the_invoice_once(o2c_world_factory):
    world = o2c_world_factory(orders=6, bad=False)
    order = shipped_order(world)
    before = o2c_posted(world, order)
    with world.adobe.lock:
        assert world.adobe.store.cancel(order["entity_id"]) is not None
    tick()
    state, _ = run_o2c()
    assert finished(state), state
    [after] = ar_invoices(world, order)
    assert (after["RECORDNO"], after["STATE"], after["TOTALDUE"]) == (before["RECORDNO"], "Reversed", "0")
    found = o2c_row(world, order)
    assert (found.status, found.revision, found.effect) == (POSTED, 2, "cancel")
    assert world.ledger.latest_revisions(O2C, stale_only=True) == []
    again, _ = run_o2c()
    assert finished(again) and ar_invoices(world, order)[0]["WHENMODIFIED"] == after["WHENMODIFIED"]


def test_an_order_commented_held_and_released_after_posting_leaves_the_ar_invoice_unwritten(o2c_world_factory):
    world = o2c_world_factory(orders=6, bad=False)
    order = shipped_order(world)
    before = o2c_posted(world, order)  # the run writes the invoice key back as an order comment
    tick()
    state, counts = run_o2c()  # the commented order read again: a new content, the same invoice
    assert finished(state) and counts["posted"] == 0, state
    assert o2c_row(world, order).revision == 1  # a re-read, no revision
    with world.adobe.lock:
        assert world.adobe.store.hold(order["entity_id"]) is not None
        assert world.adobe.store.unhold(order["entity_id"]) is not None
    tick()
    state, counts = run_o2c()
    assert finished(state) and counts["posted"] == 0, state
    [after] = ar_invoices(world, order)
    assert (after["WHENMODIFIED"], after["total"], after["STATE"]) == (before["WHENMODIFIED"], before["total"],
                                                                      before["STATE"])
    found = o2c_row(world, order)
    assert (found.status, found.revision, found.target_id) == (POSTED, 1, before["RECORDNO"])
    assert world.ledger.latest_revisions(O2C, stale_only=True) == []


def test_a_cancelled_order_whose_ar_invoice_is_paid_needs_a_person(o2c_world_factory):
    world = o2c_world_factory(orders=6, bad=False)
    order = shipped_order(world)
    before = o2c_posted(world, order)
    with world.intacct.lock:  # a payment applied in Intacct by hand
        record = next(r for r in world.intacct.store.records("ARINVOICE") if r["RECORDNO"] == before["RECORDNO"])
        record.update(TOTALPAID=record["TOTALDUE"], TRX_TOTALPAID=record["TOTALDUE"], TOTALDUE="0", STATE="Paid")
    with world.adobe.lock:
        world.adobe.store.cancel(order["entity_id"])
    tick()
    state, counts = run_o2c()
    assert state.is_failed() and counts["quarantined"] == 1 and f"AR invoice CO-{order['increment_id']}" in state.message
    found = o2c_row(world, order)
    assert found.status == QUARANTINED and found.error_class == "needs_person"
    assert found.last_error.startswith(f"AR invoice CO-{order['increment_id']} (RECORDNO {before['RECORDNO']}) is paid")
    assert ar_invoices(world, order)[0]["STATE"] == "Paid"


def test_an_order_cancelled_before_its_invoice_posted_is_skipped_and_an_old_content_superseded(o2c_world_factory):
    world = o2c_world_factory(orders=6, bad=False)
    order = shipped_order(world)
    placed = _jsonable(copy.deepcopy(world.adobe.store.get("order", order["entity_id"])))
    with world.adobe.lock:
        world.adobe.store.cancel(order["entity_id"])  # a second after the shipment (shipped_order ticks)
    tick()
    state, _ = run_o2c()
    assert finished(state), state
    assert ar_invoices(world, order) == []
    found = o2c_row(world, order)
    assert found.status == SKIPPED and "cancelled before any original" in found.last_error
    late = entity_row("order", placed, o2c_dumps(placed), tenant(TENANT).commerce("o2c"))  # the shipped content, last
    assert world.ledger.ingest(O2C, [late], "late-reader").superseded == 1
    state, _ = run_o2c()
    assert ar_invoices(world, order) == [] and o2c_row(world, order).status == SKIPPED


def test_a_run_killed_between_a_reversals_intent_and_outcome_is_recovered_once(o2c_world_factory, monkeypatch):
    world = o2c_world_factory(orders=6, bad=False)
    order = shipped_order(world)
    before = o2c_posted(world, order)
    real, calls = Ledger.record_outcomes, {"n": 0}

    def killed_once(self, integration, outcomes, run_id):
        if integration == O2C and any(o.id == o2c_row(world, order).id for o in outcomes):
            calls["n"] += 1
            if calls["n"] == 1:
                raise SystemExit("worker killed after Intacct reversed the invoice, before the outcome")
        return real(self, integration, outcomes, run_id)

    monkeypatch.setattr(Ledger, "record_outcomes", killed_once)
    with world.adobe.lock:
        world.adobe.store.cancel(order["entity_id"])
    tick()
    from ml_connector.flows.commerce_to_intacct_o2c import commerce_to_intacct_o2c

    with pytest.raises(SystemExit):
        commerce_to_intacct_o2c(tenant=TENANT)
    assert o2c_row(world, order).status == POSTING
    state, counts = run_o2c()
    assert finished(state) and counts["recovered_posted"] >= 1, state
    [after] = ar_invoices(world, order)
    assert (after["RECORDNO"], after["STATE"]) == (before["RECORDNO"], "Reversed")
    assert (o2c_row(world, order).status, o2c_row(world, order).revision) == (POSTED, 2)
