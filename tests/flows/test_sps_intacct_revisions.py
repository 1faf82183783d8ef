"""SPS -> Intacct revisions end to end: RSX changes, replacements and cancellations of posted,
unposted and paid documents, out-of-order arrivals, closed periods, and a run killed between a
revision's intent and its outcome. Real engine, ledger and emulators (tests/flows/conftest.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.ledger.schema import FAILED, POSTED, POSTING, QUARANTINED, SKIPPED
from ml_connector.ledger.store import Ledger
from ml_connector.mappings.sps_to_intacct import bill_number
from ml_connector.runtime.tenant import tenant
from ml_connector.sandbox.generator import GeneratedDoc, generate, revise

IN = "sps-intacct"


def run(**params):
    state = sps_to_intacct(tenant="demo", return_state=True, **params)
    return state, state.result(raise_on_failure=False)


def an_order(world, n: int = 0, seed: int = 21) -> GeneratedDoc:
    orders = [d for d in generate(40, seed=seed) if d.doc_type == "order"]
    return orders[n]


def drop(world, *docs: GeneratedDoc) -> None:
    for doc in docs:
        world.sps.put_out(doc.filename, doc.content)


def bills_of(world, doc: GeneratedDoc) -> list[dict]:
    vendor = world.mapping.partners[doc.partner_id].vendor_id
    record_id = bill_number(doc.doc_type, doc.number)
    return [b for b in world.intacct.bills() if (b["VENDORID"], b["RECORDID"]) == (vendor, record_id)]


def row_of(world, doc: GeneratedDoc):
    [row] = [r for r in world.ledger.documents(IN) if (r.doc_type, r.natural_key) == (doc.doc_type, doc.number)]
    return row


def first_qty(bill: dict) -> str:
    return bill["lines"][0]["ENTRYDESCRIPTION"].split(" x ")[1].split(" @ ")[0]


def use_policy(monkeypatch, **policy) -> None:
    res = tenant("demo")
    monkeypatch.setattr(res, "mapping", res.mapping.model_copy(update=policy))


def not_stale(world) -> None:
    assert world.ledger.latest_revisions(IN, stale_only=True) == []


def test_a_change_after_posting_updates_the_same_bill(world):
    original = an_order(world)
    drop(world, original)
    run()
    [before] = bills_of(world, original)
    drop(world, revise(original, "04", Decimal(997)))  # the retail PO changed: quantity up by 997
    state, counts = run()
    assert state.is_completed() and counts["posted"] == 1
    [after] = bills_of(world, original)
    assert after["RECORDNO"] == before["RECORDNO"] and after["controlid"] == before["controlid"]
    assert after["total"] > before["total"] and Decimal(first_qty(after)) >= Decimal(998)
    row = row_of(world, original)
    assert (row.status, row.revision, row.target_id) == (POSTED, 2, before["RECORDNO"])
    not_stale(world)
    again, counts = run()  # the change read again is old news
    assert counts["posted"] == 0 and bills_of(world, original)[0]["total"] == after["total"]


def test_a_replacement_is_written_over_the_bill(world):
    original = an_order(world)
    drop(world, original)
    run()
    drop(world, revise(original, "05", Decimal(4)))
    state, _ = run()
    assert state.is_completed()
    [bill] = bills_of(world, original)
    assert row_of(world, original).revision == 2 and bill["total"] > Decimal(0)
    not_stale(world)


def test_a_cancellation_after_posting_deletes_the_unpaid_bill(world):
    original = an_order(world)
    drop(world, original)
    run()
    assert len(bills_of(world, original)) == 1
    drop(world, revise(original, "01"))
    state, counts = run()
    assert state.is_completed() and counts["posted"] == 1
    assert bills_of(world, original) == []
    row = row_of(world, original)
    assert (row.status, row.revision, row.effect) == (POSTED, 2, "cancel")
    not_stale(world)


def test_a_cancellation_reverses_the_bill_when_the_tenant_keeps_an_audit_trail(world, monkeypatch):
    original = an_order(world)
    drop(world, original)
    run()
    use_policy(monkeypatch, bill_cancel="reverse")
    drop(world, revise(original, "01"))
    state, _ = run()
    assert state.is_completed()
    [bill] = bills_of(world, original)
    assert bill["STATE"] == "Reversed" and bill["TOTALDUE"] == "0"
    not_stale(world)


def test_a_cancellation_before_its_original_posts_nothing_and_the_late_original_is_superseded(world):
    original = an_order(world)
    drop(world, revise(original, "01"))
    state, _ = run()
    assert state.is_completed() and bills_of(world, original) == []
    assert row_of(world, original).status == SKIPPED
    drop(world, original)  # the original arrives after its cancellation
    state, counts = run()
    assert state.is_completed() and counts["posted"] == 0
    assert bills_of(world, original) == [] and row_of(world, original).status == SKIPPED


def test_a_change_before_its_original_posts_the_change_and_the_late_original_is_superseded(world):
    original = an_order(world)
    change = revise(original, "04", Decimal(50))
    drop(world, change)
    run()
    [bill] = bills_of(world, original)
    drop(world, original)
    state, counts = run()
    assert state.is_completed() and counts["posted"] == 0
    [still] = bills_of(world, original)
    assert still["total"] == bill["total"] and Decimal(first_qty(still)) >= Decimal(51)
    history = world.ledger.revisions_of(row_of(world, original).id)
    assert [h.state for h in history][-1] == "superseded"
    not_stale(world)


def test_a_change_to_a_paid_bill_needs_a_person_and_fails_the_run_with_the_reason(world):
    original = an_order(world)
    drop(world, original)
    run()
    [bill] = bills_of(world, original)
    world.intacct.pay_bill(bill["RECORDID"], vendor_id=bill["VENDORID"])
    drop(world, revise(original, "04", Decimal(3)))
    state, counts = run()
    assert state.is_failed() and counts["quarantined"] == 1
    row = row_of(world, original)
    assert row.status == QUARANTINED and row.error_class == "needs_person"
    assert f"bill {bill['RECORDID']} of vendor {bill['VENDORID']}" in row.last_error and "is paid" in row.last_error
    assert "\n" not in row.last_error
    assert bills_of(world, original)[0]["total"] == bill["total"]  # untouched
    assert [r.id for r in world.ledger.latest_revisions(IN, stale_only=True)] == [row.id]
    drop(world, revise(original, "01"))  # a paid bill cannot be cancelled either
    run()
    assert row_of(world, original).status == QUARANTINED and len(bills_of(world, original)) == 1


@pytest.mark.parametrize("purpose, delta", [("04", Decimal(7)), ("01", Decimal(0))])
def test_a_run_killed_between_a_revisions_intent_and_outcome_is_recovered_once(world, monkeypatch, purpose, delta):
    original = an_order(world)
    drop(world, original)
    run()
    [before] = bills_of(world, original)
    real = Ledger.record_outcomes
    calls = {"n": 0}

    def killed_once(self, integration, outcomes, run_id):
        calls["n"] += 1
        if calls["n"] == 1 and integration == IN:
            raise SystemExit("worker killed after Intacct took the revision, before the outcome")
        return real(self, integration, outcomes, run_id)

    monkeypatch.setattr(Ledger, "record_outcomes", killed_once)
    drop(world, revise(original, purpose, delta))
    with pytest.raises(SystemExit):
        sps_to_intacct(tenant="demo")
    assert world.ledger.status_counts(IN).get(POSTING) == 1
    state, counts = run()
    assert state.is_completed() and counts["recovered_posted"] == 1 and counts["recovered_requeued"] == 0
    assert counts["duplicate"] == 1  # the unconsumed file read again: old news, not a third revision
    row = row_of(world, original)
    assert (row.status, row.revision) == (POSTED, 2)
    after = bills_of(world, original)
    if purpose == "01":
        assert after == []
    else:
        assert len(after) == 1 and after[0]["RECORDNO"] == before["RECORDNO"] and after[0]["total"] > before["total"]
    not_stale(world)


def test_a_revision_whose_write_never_landed_is_written_after_the_kill(world, monkeypatch):
    original = an_order(world)
    drop(world, original)
    run()
    [before] = bills_of(world, original)
    from ml_connector.tasks import intacct as intacct_tasks

    real, calls = intacct_tasks.write_bills, {"n": 0}

    def killed_before_writing_once(res, prepared, today=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise SystemExit("worker killed after the intent, before Intacct was called")
        return real(res, prepared, today)

    monkeypatch.setattr(intacct_tasks, "write_bills", killed_before_writing_once)
    drop(world, revise(original, "04", Decimal(9)))
    with pytest.raises(SystemExit):
        sps_to_intacct(tenant="demo")
    state, counts = run()
    assert state.is_completed() and counts["recovered_requeued"] == 1 and counts["posted"] == 1
    [after] = bills_of(world, original)
    assert after["RECORDNO"] == before["RECORDNO"] and after["total"] > before["total"]
    not_stale(world)


def test_a_bill_dated_in_a_closed_period_fails_naming_it_unless_it_may_post_in_the_first_open_one(world, monkeypatch):
    original = an_order(world)
    day = date.fromisoformat(original_date(original))
    world.intacct.close_period(day.year, day.month)
    nxt = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    world.intacct.close_period(nxt.year, nxt.month)  # the next one too: the bill lands two months on
    drop(world, original)
    state, counts = run()
    assert state.is_failed() and counts["failed"] == 1
    row = row_of(world, original)
    assert row.status == FAILED and f"GL period {day:%B %Y}" in row.last_error and "is closed" in row.last_error
    assert "posting_date: first_open_period" in row.last_error and bills_of(world, original) == []
    use_policy(monkeypatch, posting_date="first_open_period")
    assert world.ledger.requeue(IN, [row.id], run_id="replay") == 1  # what `ml-connector replay` does
    state, counts = run()
    assert state.is_completed(), state
    [bill] = bills_of(world, original)
    after = date(nxt.year + nxt.month // 12, nxt.month % 12 + 1, 1)
    assert bill["WHENCREATED"] == day.strftime("%m/%d/%Y") and bill["WHENPOSTED"] == after.strftime("%m/%d/%Y")
    assert row_of(world, original).status == POSTED


def original_date(doc: GeneratedDoc) -> str:
    from ml_connector.connectors.sps import rsx

    [(_, model)] = rsx.parse(doc.content, filename=doc.filename)
    return model.header.order_header.purchase_order_date.isoformat()


def test_revisions_under_heavy_faults_reach_intacct_exactly_once(world_factory):
    from ml_connector.mappings.sps_rows import unwrap
    from ml_connector.sandbox.base import FaultPlan

    world = world_factory(intacct_faults=FaultPlan.profile("heavy", seed=7), sps_faults=FaultPlan.profile("heavy", seed=8))
    docs = [d for d in generate(60, seed=31) if d.expect == "post"]
    orders = [d for d in docs if d.doc_type == "order"]
    changed, cancelled, early_cancel = orders[:6], orders[6:9], orders[9:11]
    drop(world, *[d for d in docs if d not in early_cancel])
    drop(world, *[revise(d, "01") for d in early_cancel])  # cancellations seen before their originals

    def drain() -> None:
        for _ in range(10):
            state, _ = run(page_size=15)
            pending = world.ledger.status_counts(IN)
            if state.is_completed() and not world.sps.files("out/") and not pending.get("received") \
                    and not pending.get(POSTING):
                return
        raise AssertionError(f"not drained: {world.ledger.status_counts(IN)}")

    drain()
    revisions = [revise(d, "04", Decimal(n + 1)) for n, d in enumerate(changed)] + [revise(d, "01") for d in cancelled]
    drop(world, *revisions, *early_cancel)  # and the early-cancelled originals arrive late
    drain()
    assert world.intacct.faults.counts.get("lost_write", 0) > 0
    for doc in changed:
        wanted = next(iter(unwrap(f"out/{doc.filename}", revise(doc, "04", Decimal(changed.index(doc) + 1)).content,
                                  world.mapping)[1].values()))[1].bill
        [bill] = bills_of(world, doc)
        assert bill["total"] == wanted.total, doc.number
    for doc in cancelled + early_cancel:
        assert bills_of(world, doc) == [], doc.number
    dupes = {k: c for k, c in world.bill_counts().items() if c > 1}
    assert not dupes
    expected = {(world.mapping.partners[d.partner_id].vendor_id, bill_number(d.doc_type, d.number))
                for d in docs if d not in cancelled + early_cancel}
    assert set(world.bill_counts()) == expected
    not_stale(world)


# --- orders routed to Order Entry sales orders (tenant routes: order: salesorder) ---------------


def route_orders_to_sales_orders(monkeypatch, partner_id: str) -> None:
    res = tenant("demo")
    partner = res.mapping.partners[partner_id]
    routed = partner.model_copy(update={"routes": {**partner.routes, "order": "salesorder"}})
    monkeypatch.setattr(res, "mapping", res.mapping.model_copy(update={"partners": {**res.mapping.partners,
                                                                                    partner_id: routed}}))


def a_customers_order(world) -> GeneratedDoc:
    """An order of a partner that is also an Intacct customer (the route needs its customer_id)."""
    return next(d for d in generate(40, seed=21)
                if d.doc_type == "order" and world.mapping.partners[d.partner_id].customer_id)


def sales_orders(world) -> list[dict]:
    return world.intacct.store.records("SODOCUMENT")


def test_an_order_routed_to_order_entry_becomes_one_sales_order_and_its_change_needs_a_person(world, monkeypatch):
    original = a_customers_order(world)
    route_orders_to_sales_orders(monkeypatch, original.partner_id)
    drop(world, original)
    state, counts = run()
    assert state.is_completed() and counts["posted"] == 1
    assert bills_of(world, original) == []
    [so] = sales_orders(world)
    customer = world.mapping.partners[original.partner_id].customer_id
    assert (so["DOCID"], so["CUSTOMERID"], so["PONUMBER"]) == (f"Sales Order-{original.number}", customer,
                                                               original.number)
    assert world.intacct.store.items[("SODOCUMENT", so["RECORDNO"])]
    assert row_of(world, original).target_id == so["DOCID"]
    drop(world, revise(original, "04", Decimal(2)))
    state, counts = run()
    assert state.is_failed() and counts["quarantined"] == 1
    row = row_of(world, original)
    assert row.status == QUARANTINED and row.error_class == "needs_person"
    assert row.last_error.startswith(f"sales order Sales Order-{original.number} of customer {customer}")
    assert len(sales_orders(world)) == 1


def test_a_sales_order_a_killed_run_created_is_found_by_its_docid(world, monkeypatch):
    original = a_customers_order(world)
    route_orders_to_sales_orders(monkeypatch, original.partner_id)
    real = Ledger.record_outcomes
    calls = {"n": 0}

    def killed_once(self, integration, outcomes, run_id):
        calls["n"] += 1
        if calls["n"] == 1 and integration == IN:
            raise SystemExit("worker killed after Intacct created the sales order, before the outcome")
        return real(self, integration, outcomes, run_id)

    monkeypatch.setattr(Ledger, "record_outcomes", killed_once)
    drop(world, original)
    with pytest.raises(SystemExit):
        sps_to_intacct(tenant="demo")
    state, counts = run()
    assert state.is_completed() and counts["recovered_posted"] == 1
    [so] = sales_orders(world)
    assert row_of(world, original).status == POSTED and row_of(world, original).target_id == so["DOCID"]
