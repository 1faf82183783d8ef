"""Adobe Commerce -> Sage Intacct order to cash, end to end on the session's Prefect server with
both emulators in-process (tenant demo-commerce: a multi-entity Intacct company, US01 and EU01)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from ml_connector.flows.commerce_to_intacct_o2c import commerce_to_intacct_o2c
from ml_connector.ledger.schema import FAILED, POSTED, QUARANTINED, RECEIVED, SKIPPED
from ml_connector.ops.reconcile_commerce_o2c import check_o2c
from ml_connector.sandbox.base import FaultPlan

O2C = "commerce-intacct-o2c"


def run(**params):
    state = commerce_to_intacct_o2c(tenant="demo-commerce", return_state=True, **params)
    return state, str(state.state_details.flow_run_id)


def finished(state) -> bool:
    """The run reached its end: Completed, or Failed because it left documents for a person
    (its counts are its result), not because it raised."""
    return state.is_completed() or (state.is_failed() and isinstance(state.result(raise_on_failure=False), dict))


def run_until_drained(world, attempts: int = 5, **params) -> list:
    """Run until a run finishes with nothing left received (what it leaves failed or
    quarantined waits for a person, not for another run)."""
    states = []
    for _ in range(attempts):
        state, _ = run(**params)
        states.append(state)
        if finished(state) and not world.ledger.status_counts(O2C).get(RECEIVED):
            break
    return states


NO_EMAIL = "Intacct customer C-9002 has no email"  # seed_customers: the Intacct-only customer without one
UNKNOWN_STORE = "store_id 9 is not mapped"  # the bad orders of a world made with bad=True


def assert_needs_a_person(world, state, *, reasons: tuple[str, ...] = ()) -> dict:
    """The run (the world's first) left exactly the ledger's failed and quarantined documents for
    a person: it is Failed, its message starts with their count and names the reasons; returns
    its counts."""
    failed = len(world.ledger.documents(O2C, status=FAILED))
    quarantined = len(world.ledger.documents(O2C, status=QUARANTINED))
    assert state.is_failed() and failed + quarantined, state
    assert state.message.startswith(f"{failed or quarantined} of "), state.message
    assert ("documents failed" in state.message) == bool(failed), state.message
    assert ("quarantined" in state.message) == bool(quarantined), state.message
    if failed and quarantined:
        assert f", {quarantined} quarantined: " in state.message, state.message
    assert all(reason in state.message for reason in reasons), state.message
    counts = state.result(raise_on_failure=False)
    assert counts[FAILED] == failed and counts[QUARANTINED] == quarantined, counts
    return counts


def problems(world) -> dict:
    expected, present, extra = check_o2c(world.adobe, world.intacct, world.commerce, world.opening, world.ledger)
    missing = sorted(k for k in expected if not present.get(k))
    duplicated = sorted(k for k, n in present.items() if n > 1)
    return {"missing": missing, "duplicated": duplicated, **extra}


def test_full_loop_closes_for_every_order(o2c_world_factory, tmp_path):
    world = o2c_world_factory(orders=30)
    state, run_id = run()
    # the bad orders and the customer without an email wait for a person; every other order closes
    counts = assert_needs_a_person(world, state, reasons=(UNKNOWN_STORE,))
    found = problems(world)
    assert found["missing"] == [] and found["duplicated"] == [], found
    assert found["top_level_writes"] == 0
    assert counts["posted"] == world.ledger.run_counts(O2C, run_id)["posted"] > 0
    assert found["customers_balanced"] > 0 and found["units_shipped"] > 0
    # the artifact's numbers are the ledger's numbers for this run
    assert world.ledger.run_counts(O2C, run_id) == {k: counts[k] for k in world.ledger.run_counts(O2C, run_id)}

    # every invoiced order: one AR invoice carrying the order's entity_id, its key written back
    with world.adobe.lock:
        orders = {o["increment_id"]: dict(o) for o in world.adobe.store.rows("order")}
    invoices = {i["RECORDID"]: i for i in world.intacct.ar_invoices()}
    for inc, order in orders.items():
        if order.get("total_invoiced"):
            invoice = invoices[f"CO-{inc}"]
            assert invoice["COMMERCE_ENTITY_ID"] == str(order["entity_id"])
            comments = [h["comment"] for h in order["status_histories"]]
            assert any(f"CO-{inc}" in c and invoice["RECORDNO"] in c for c in comments), comments
    # payments applied in full to their invoice; credit memos as negative adjustments on it
    assert all(p["TOTALAPPLIED"] == p["TOTALENTERED"] for p in world.intacct.ar_payments())
    for adjustment in world.intacct.ar_adjustments():
        assert adjustment["DOCNUMBER"] in invoices and adjustment["total"] < 0
        assert all(line["AMOUNT"] < 0 for line in adjustment["lines"])

    # `ml-connector reconcile`: the ledger's documents against Intacct, by number
    from ml_connector.ops.reconcile import reconcile
    from ml_connector.runtime.tenant import tenant

    summary = reconcile(tenant("demo-commerce"), O2C, tmp_path)
    assert summary["missing"] == 0 and summary["duplicated"] == 0 and summary["source"] > 0

    # a second run finds nothing new and posts nothing
    again, _ = run()
    assert again.is_completed() and again.result()["posted"] == 0
    assert problems(world)["duplicated"] == []


def test_entities_routing_bad_input_and_customers(o2c_world_factory):
    world = o2c_world_factory(orders=24, seed=9)
    dry, _ = run(dry_run=True)  # reads and maps, writes nothing anywhere
    tally = dry.result()
    # the engine's tally is over every kind: only the three bad orders would be quarantined
    assert tally["would_post"] > 0 and tally["would_quarantine"] == 3
    assert world.intacct.ar_invoices() == [] and not world.ledger.status_counts(O2C)
    assert world.ledger.get_cursor(O2C, "orders") is None
    state, _ = run()
    assert tally["would_skip"] == len(world.ledger.documents(O2C, status=SKIPPED, doc_type="item")) > 0
    # the three bad orders and the customer without an email need a person: the run says so
    assert_needs_a_person(world, state, reasons=(UNKNOWN_STORE,))
    assert len(world.ledger.documents(O2C, status=QUARANTINED, doc_type="order")) == 3
    routes = {s.store_id: s for s in world.commerce.stores.values()}
    with world.adobe.lock:
        orders = {o["increment_id"]: dict(o) for o in world.adobe.store.rows("order")}
    for invoice in world.intacct.ar_invoices():
        order = orders[invoice["RECORDID"].removeprefix("CO-")]
        expected = world.commerce.route(order["store_id"]).entity
        assert invoice["entity"] == expected and {line["LOCATIONID"] for line in invoice["lines"]} == {expected}
    assert any(i["entity"] == "EU01" for i in world.intacct.ar_invoices()), "store 3 routes to EU01"
    assert routes  # the tenant maps stores
    assert world.intacct.top_level_writes() == []  # nothing posted at the top level

    # bad input: quarantined with a one-line reason and the raw JSON kept, never posted
    quarantined = {r.natural_key: r for r in world.ledger.documents(O2C, status=QUARANTINED, doc_type="order")}
    reasons = " | ".join(r.last_error for r in quarantined.values())
    assert "store_id 9 is not mapped" in reasons and "DISCONTINUED-9999" in reasons and "grand_total" in reasons
    for row in quarantined.values():
        assert "\n" not in row.last_error and row.raw_payload
    bad = {inc for inc, label in world.seeded.orders.items() if label in ("bad:unknown-store", "bad:unknown-sku")}
    assert not any(i["RECORDID"].removeprefix("CO-") in bad for i in world.intacct.ar_invoices())

    # inventory follows fulfilment per warehouse; balances reconcile per customer
    found = problems(world)
    assert [k for k in found["missing"] if k[0] in ("on-hand", "balance")] == []
    assert world.intacct.on_hand("MLC-1000", "WH-US") <= world.opening[("MLC-1000", "WH-US")]

    # customers both ways: CUSTOMERID kept on Commerce, Intacct-only customer created in
    # Commerce, the one without an email quarantined, credit limits on B2B companies, conflicts
    with world.adobe.lock:
        people = [dict(c) for c in world.adobe.store.rows("customer")]
        credits = {c["company_id"]: dict(c) for c in world.adobe.store.rows("credit")}
    kept = {a["value"] for c in people for a in c["custom_attributes"] if a["attribute_code"] == "intacct_customer_id"}
    assert "C-9001" in kept and "C-9002" not in kept
    assert {r.target_id for r in world.ledger.documents(O2C, doc_type="customer", status=POSTED)} <= kept
    icustomers = {r.natural_key: r.status for r in world.ledger.documents(O2C, doc_type="icustomer")}
    assert icustomers["C-9001"] == POSTED and icustomers["C-9002"] == QUARANTINED
    limits = {Decimal(str(c["credit_limit"])) for c in credits.values()}
    assert all(limit == limit.quantize(Decimal("0.01")) for limit in limits)
    assert Decimal(str(world.seeded.companies["Northwind Traders"])) + Decimal("2500.00") in limits
    conflicts = world.ledger.documents(O2C, doc_type="conflict")
    assert any("ANA ALVAREZ" in c.last_error and "commerce (master)" in c.last_error for c in conflicts)
    renamed = next(r for r in world.intacct.customers() if r["NAME"].lower() == "ana alvarez")
    assert renamed["NAME"] == "Ana Alvarez"  # Commerce masters the name: written to Intacct


def test_payment_waits_for_its_invoice_then_applies(o2c_world_factory):
    """The guest customer is missing in Intacct: guest orders' invoices fail, their payments and
    refunds wait in the ledger (not failed). Once the customer exists and the orders are
    replayed, the next run applies each waiting payment to its invoice."""
    from ml_connector.flows.replay import replay

    world = o2c_world_factory(orders=30, seed=5)
    with world.intacct.lock:
        guest = world.intacct.store.find("CUSTOMER", "C-WEBGUEST")
        world.intacct.store.remove("CUSTOMER", guest["RECORDNO"])
    state, _ = run()
    failed = world.ledger.documents(O2C, status=FAILED, doc_type="order")
    assert failed and all("C-WEBGUEST" in r.last_error for r in failed)
    waiting = [r for r in world.ledger.documents(O2C, status=RECEIVED) if r.error_class == "waiting"]
    assert waiting and all("waits for AR invoice" in r.last_error for r in waiting)
    # the guest orders' invoices need a person (the missing customer): Failed, naming it
    counts = assert_needs_a_person(world, state, reasons=("Invalid Customer 'C-WEBGUEST'",))
    assert counts["failed"] == len(failed)  # the waiting ones are not failures

    world.intacct.add_customer("C-WEBGUEST", "Web guests")
    replayed = replay(integration=O2C, tenant="demo-commerce", status=FAILED)
    assert replayed["posted"] == len(failed)
    state, _ = run()
    assert state.is_completed()
    assert not world.ledger.status_counts(O2C).get(RECEIVED)
    found = problems(world)
    assert found["missing"] == [] and found["duplicated"] == [], found


def test_lost_responses_and_retries_never_make_a_second_document(o2c_world_factory):
    world = o2c_world_factory(orders=24, seed=13, intacct_faults=FaultPlan(rate_lost_write=0.3, rate_5xx=0.05, seed=3),
                              adobe_faults=FaultPlan(rate_5xx=0.03, rate_429=0.03, seed=4))
    states = run_until_drained(world, envelope_size=7)
    last = states[-1]
    assert finished(last) and not world.ledger.status_counts(O2C).get(RECEIVED), last
    # lost answers and retries leave nothing failed; only the world's bad input waits for a person
    assert not world.ledger.documents(O2C, status=FAILED)
    quarantined = world.ledger.documents(O2C, status=QUARANTINED)
    deliberate = (UNKNOWN_STORE, "DISCONTINUED-9999", "grand_total", NO_EMAIL)
    assert quarantined and all(any(d in r.last_error for d in deliberate) for r in quarantined), \
        [r.last_error for r in quarantined]
    counts = last.result(raise_on_failure=False)
    assert counts[FAILED] == 0 and last.is_failed() == bool(counts[QUARANTINED]), last
    if len(states) == 1:  # one run did it all: it says what it left for a person
        assert_needs_a_person(world, last, reasons=(UNKNOWN_STORE,))
    assert world.intacct.faults.counts.get("lost_write", 0) > 0
    found = problems(world)
    assert found["missing"] == [] and found["duplicated"] == [], found
    numbers = Counter(i["RECORDID"] for i in world.intacct.ar_invoices())
    assert numbers and max(numbers.values()) == 1


def test_a_dead_runs_intent_is_settled_by_lookup_not_posted_again(o2c_world_factory):
    """A run died after Intacct committed an AR invoice but before the ledger heard of it: the
    next run finds the invoice by number and records it; nothing is posted twice."""
    from ml_connector.engine import Run
    from ml_connector.mappings.commerce_o2c_plan import plan
    from ml_connector.pipelines.commerce_o2c import PIPELINE
    from ml_connector.runtime.tenant import tenant
    from ml_connector.tasks import commerce_o2c_post as post

    world = o2c_world_factory(orders=12, seed=21, bad=False)
    res = tenant("demo-commerce")
    dead = Run("demo-commerce", O2C, "dead-run")
    for page in PIPELINE.read(dead, None):  # the dead run read products, customers and orders
        if page.items.kind in ("products", "customers", "orders"):
            res.ledger.ingest(O2C, PIPELINE.to_rows(dead, page).rows, "dead-run")
    for doc_type in ("item", "customer"):
        post.post_type(res, doc_type, res.ledger.pending_ids(O2C), "dead-run", 100)
    order = res.ledger.documents(O2C, doc_type="order", status=RECEIVED)[0]
    [claimed] = res.ledger.claim(O2C, [order.id], "dead-run")  # the intent ...
    planned = plan(claimed, post.load_links(res.ledger), world.commerce)
    [result] = res.intacct().post_functions([planned.function], entity=planned.entity)  # ... the write ...
    assert result.ok  # ... and the process dies before the outcome
    state, _ = run()
    # settled without a duplicate; only the customer without an email is left for a person
    assert assert_needs_a_person(world, state, reasons=(NO_EMAIL,))["recovered_posted"] == 1
    assert not world.ledger.documents(O2C, status=FAILED)
    row = res.ledger.documents(O2C, ids=[order.id])[0]
    assert row.status == POSTED and row.target_id == result.key
    numbers = Counter(i["RECORDID"] for i in world.intacct.ar_invoices())
    assert numbers[order.target_ref] == 1 and max(numbers.values()) == 1


def test_a_backfill_reads_its_window_and_leaves_the_live_cursors_alone(o2c_world_factory):
    """A backfill (``since``/``until``) posts what its window holds and stores no cursor; the
    live run after it reads every kind from the start and finds nothing new to post."""
    from datetime import UTC, datetime, timedelta

    from ml_connector.mappings.commerce_o2c_rows import KINDS

    world = o2c_world_factory(orders=8, seed=7, bad=False)
    state, _ = run(since=datetime(2000, 1, 1, tzinfo=UTC), until=datetime.now(UTC) + timedelta(minutes=1))
    assert finished(state), state
    assert world.intacct.ar_invoices() and problems(world)["missing"] == []
    assert {kind: world.ledger.get_cursor(O2C, kind) for kind in KINDS} == dict.fromkeys(KINDS)
    live, _ = run()
    assert finished(live) and live.result(raise_on_failure=False)["posted"] == 0, live
    assert all(world.ledger.get_cursor(O2C, kind) for kind in ("products", "customers", "orders"))
    assert problems(world)["duplicated"] == []


def test_a_linked_customer_renamed_in_commerce_is_renamed_in_intacct_by_the_next_run(o2c_world_factory):
    """The customer feed re-reads a linked customer edited in Commerce: the run stores its newer
    record and puts the pair through the conflict rule even though nothing changed in Intacct
    (the Intacct side's sync cursor is moved past every customer here), and Commerce masters
    the name. Only that pair is aligned."""
    import time
    from datetime import UTC, datetime, timedelta

    from ml_connector.connectors.intacct._xml import DATETIME_FORMAT
    from ml_connector.tasks.commerce_o2c_customers import CURSOR

    world = o2c_world_factory(orders=6, seed=11, bad=False)
    assert finished(run()[0])
    linked = next(r for r in world.ledger.documents(O2C, doc_type="customer", status=POSTED)
                  if r.natural_key.isdigit() and r.target_id)
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).strftime(DATETIME_FORMAT)
    world.ledger.set_cursor(O2C, later, name=CURSOR)  # no Intacct customer counts as changed
    with world.adobe.lock:
        current = world.adobe.store.get("customer", int(linked.natural_key))
        world.adobe.store.update_customer(current["id"], {**current, "firstname": "Renamed"})
    time.sleep(1.01 - time.time() % 1)  # the feed reads up to the second before now
    state, _ = run()
    assert finished(state), state
    counts = state.result(raise_on_failure=False)
    assert counts["intacct_updated"] == 1, counts
    renamed = next(c for c in world.intacct.customers() if c["CUSTOMERID"] == linked.target_id)
    assert renamed["NAME"].startswith("Renamed "), renamed["NAME"]
    stored = world.ledger.documents(O2C, ids=[linked.id])[0]
    assert b'"firstname":"Renamed"' in stored.raw_payload and stored.status == POSTED


def test_the_pipelines_preview_is_what_ml_connector_preview_shows():
    from pathlib import Path

    from ml_connector.mappings.tenant import load_tenant
    from ml_connector.pipelines.commerce_o2c import PIPELINE
    from ml_connector.preview import preview

    path = Path(__file__).parents[1] / "fixtures" / "commerce" / "order_processing.json"
    mapping = load_tenant(Path(__file__).parents[2] / "tenants" / "demo-commerce.yaml")
    shown = PIPELINE.preview("demo-commerce", mapping, path.read_bytes(), path.name)
    assert "<invoiceno>CO-000000003</invoiceno>" in shown and "in entity US01" in shown
    assert shown == preview(O2C, path, tenant="demo-commerce")
