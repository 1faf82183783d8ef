"""Adobe Commerce -> Intacct procure end to end: both emulators in-process, the session's Prefect
server, tenant demo-commerce."""

from __future__ import annotations

import contextvars
import json
import threading
from collections import Counter
from datetime import UTC

import httpx

from ml_connector.flows.commerce_ap_vendor_master import commerce_ap_vendor_master
from ml_connector.flows.commerce_to_intacct_ap import commerce_to_intacct_ap
from ml_connector.mappings.commerce_ap_documents import INTEGRATION
from ml_connector.sandbox.adobe.seed import seed_adobe
from ml_connector.tasks.commerce_ap_vendors import MASTER

TENANT = "demo-commerce"


def run(flow_fn, **params):
    state = flow_fn(tenant=TENANT, return_state=True, **params)
    return state, str(state.state_details.flow_run_id)


def seed(world, *, orders: int = 16, seed: int = 7, bad: bool = False, vendors: bool = True):
    from ml_connector.demo.parts.commerce_intacct_ap import seed_procure

    with world.adobe.lock:
        seeded = seed_adobe(world.adobe.store, orders=orders, seed=seed, bad=bad)
        seed_procure(world.intacct, world.adobe.store, world.mapping, existing_vendors=vendors)
    return seeded


def add_order(world, *, customer=None, email=None, po=None, store_id=1, qty=2, when=None) -> dict:
    """One more order (and its customer when ``email`` is given), placed now."""
    with world.adobe.lock:
        store = world.adobe.store
        product = store.rows("product")[0]
        if customer is None and email is not None:
            customer = store.create_customer({"email": email, "firstname": "Zoe", "lastname": "Ng"}, store_id=store_id)
        line = {"sku": product["sku"], "name": product["name"], "product_id": product["id"], "price": product["price"],
                "qty": qty}
        if po:  # purchase order lines name Intacct items
            world.intacct.add_item(product["sku"], product["name"], "Inventory")
        return store.place_order(store_id=store_id, lines=[line], customer=customer,
                                 method="purchaseorder" if po else "checkmo",
                                 po_number=po, created_at=when)


def assert_needs_a_person(state, *, failed: int = 0, quarantined: int = 0, reasons: tuple[str, ...] = ()) -> dict:
    """The run left exactly these documents for a person: it is Failed, its message starts with
    their count and names the reasons; returns its counts."""
    assert state.is_failed(), state
    head = f"{failed} of " if failed else f"{quarantined} of "
    assert state.message.startswith(head), state.message
    assert ("documents failed" in state.message) == bool(failed), state.message
    assert ("quarantined" in state.message) == bool(quarantined), state.message
    assert all(reason in state.message for reason in reasons), state.message
    counts = state.result(raise_on_failure=False)
    assert counts["failed"] == failed and counts["quarantined"] == quarantined, counts
    return counts


GUEST_WITHOUT_VENDOR = "no Intacct vendor has this email"  # seed_procure gives half the guests a vendor


def present(world) -> Counter:
    counts = Counter(("APBILL", b["RECORDID"]) for b in world.intacct.bills())
    counts.update(("PODOCUMENT", p["DOCNO"]) for p in world.intacct.po_documents())
    counts.update(("APADJUSTMENT", a["RECORDID"]) for a in world.intacct.ap_adjustments())
    return counts


def posted_refs(world) -> Counter:
    return Counter(r.target_ref for r in world.ledger.documents(INTEGRATION, status="posted"))


def test_documents_post_once_in_their_entity_with_po_and_credit_memos(commerce_world_factory):
    world = commerce_world_factory()
    seeded = seed(world)
    state, run_id = run(commerce_to_intacct_ap)
    assert state.is_completed(), state
    counts = present(world)
    assert counts and max(counts.values()) == 1  # nothing twice
    assert all(c == 1 for c in posted_refs(world).values())
    # B2B orders paid by purchase order became purchase orders (documentno = order, referenceno = PO number)
    pos = {p["DOCNO"]: p for p in world.intacct.po_documents()}
    expected_pos = {inc: po for inc, po in seeded.po_orders.items() if _order(world, inc)["state"] != "canceled"}
    assert set(pos) == set(expected_pos)
    assert all(pos[inc]["PONUMBER"] == po for inc, po in expected_pos.items())
    # credit memos became AP adjustments linked to the bill they credit
    for adjustment in world.intacct.ap_adjustments():
        assert adjustment["total"] < 0 and adjustment["DOCNUMBER"], adjustment
        assert ("APBILL", adjustment["DOCNUMBER"]) in counts
    assert len(world.intacct.ap_adjustments()) == len(seeded.creditmemos)
    assert world.intacct.top_level_writes() == []  # every transaction in its store's entity
    report = state.result()
    assert report["posted"] == sum(counts.values())


def _order(world, increment_id: str) -> dict:
    return next(o for o in world.adobe.store.rows("order") if o["increment_id"] == increment_id)



def test_rerun_posts_nothing_twice_and_bad_input_is_quarantined_with_reasons(commerce_world_factory):
    world = commerce_world_factory()
    seeded = seed(world, bad=True)
    tally = run(commerce_to_intacct_ap, dry_run=True)[0].result()
    assert tally["would_post"] > 0 and tally["would_quarantine"] == 3  # the unreadable amount, no email, store 9
    assert not present(world) and world.ledger.status_counts(INTEGRATION) == {}  # nothing written anywhere
    state, first = run(commerce_to_intacct_ap)
    quarantined = {r.natural_key: r.last_error for r in world.ledger.documents(INTEGRATION, status="quarantined")}
    # the three bad orders need a person: the run is Failed and names them
    assert len(quarantined) == 3
    assert_needs_a_person(state, quarantined=3, reasons=("customer_email", "grand_total", "store_id 9"))
    by_label = {label: _order(world, inc)["entity_id"] for inc, label in seeded.bad.items()}
    for label in ("bad:no-customer-email", "bad:non-numeric-amount", "bad:unknown-store"):
        reason = quarantined[str(by_label[label])]
        assert reason and "\n" not in reason and len(reason) < 400, reason
    assert "grand_total" in quarantined[str(by_label["bad:non-numeric-amount"])]
    assert "store_id 9" in quarantined[str(by_label["bad:unknown-store"])]
    # forbidden XML characters are stripped, not a reason to refuse the bill
    stripped = _order(world, next(i for i, lbl in seeded.bad.items() if lbl == "bad:forbidden-xml-char"))
    assert world.ledger.documents(INTEGRATION, ids=None, status="posted", doc_type="order") and \
        str(stripped["entity_id"]) not in quarantined
    before = present(world)
    report = run(commerce_to_intacct_ap)[0].result()
    assert present(world) == before  # a rerun posts nothing
    # the cursors moved on: only the overlap before each is read again, as duplicates
    assert report["posted"] == 0 and report["read"] == report["duplicate"] <= 3
    backfill = run(commerce_to_intacct_ap, since=_ts("2026-01-01"))[0].result()
    assert backfill["posted"] == 0 and backfill["duplicate"] == backfill["read"] > 0  # everything again: all duplicates
    assert present(world) == before and max(before.values()) == 1


def _ts(day: str):
    from datetime import datetime

    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_vendors_are_matched_by_email_or_commerce_id_and_created_once(commerce_world_factory):
    world = commerce_world_factory()
    seed(world, orders=24)
    customers = sorted(world.adobe.store.rows("customer"), key=lambda c: c["id"])
    state, _ = run(commerce_to_intacct_ap)
    # the one guest seed_procure gave no vendor needs a person; nothing else does
    [guest] = world.ledger.documents(INTEGRATION, status="failed")
    assert guest.last_error.startswith("guest order of ") and GUEST_WITHOUT_VENDOR in guest.last_error
    assert_needs_a_person(state, failed=1, reasons=(guest.last_error.split(":")[0], GUEST_WITHOUT_VENDOR))
    links = {r.natural_key: r.target_id for r in world.ledger.documents(MASTER, status="posted", doc_type="vendor")}
    by_email, by_id = customers[0], customers[1]  # seed_procure: V-1000 by email, V-1001 by custom field
    if str(by_email["id"]) in links:
        assert links[str(by_email["id"])] == "V-1000"
    if str(by_id["id"]) in links:
        assert links[str(by_id["id"])] == "V-1001"
    created = [v for v in world.intacct.vendors() if v["VENDORID"].startswith("VC-")]
    assert created and all(v["COMMERCE_CUSTOMER_ID"] == v["VENDORID"][3:] for v in created)
    assert len({v["VENDORID"] for v in created}) == len(created)
    for bill in world.intacct.bills():  # each bill on its customer's vendor
        order = _order(world, bill["RECORDID"][3:]) if bill["RECORDID"].startswith("CO-") else None
        if order and order.get("customer_id"):
            assert bill["VENDORID"] == links[str(order["customer_id"])]


def test_two_concurrent_runs_create_each_vendor_once(commerce_world_factory):
    from ml_connector.mappings.commerce_ap_documents import Party
    from ml_connector.runtime.tenant import tenant
    from ml_connector.tasks.commerce_ap_vendors import ensure_vendors

    barrier = threading.Barrier(2)

    def adobe_transport(emulator):
        def handler(request: httpx.Request) -> httpx.Response:
            if "customers/search" in request.url.path:  # both runs find the vendor missing, then race
                try:
                    barrier.wait(timeout=5)
                except threading.BrokenBarrierError:
                    pass
            return emulator.transport().handle_request(request)
        return httpx.MockTransport(handler)

    world = commerce_world_factory(adobe_transport=adobe_transport)
    seed(world, orders=4, vendors=False)
    newcomer = world.adobe.store.create_customer({"email": "new.supplier@example.org", "firstname": "New",
                                                  "lastname": "Supplier"})
    party = Party(customer_id=newcomer["id"], email=newcomer["email"])
    res = tenant(TENANT)
    answers: dict[str, object] = {}

    def worker(run_id: str) -> None:
        answers[run_id] = ensure_vendors(res, [party], run_id)[party.key]

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(worker, f"run-{n}")) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    made = [v for v in world.intacct.vendors() if v.get("COMMERCE_CUSTOMER_ID") == str(newcomer["id"])]
    assert len(made) == 1
    ids = {a.vendor_id for a in answers.values() if not a.pending}
    assert ids == {f"VC-{newcomer['id']}"}  # the other run saw it being made (pending) or made
    assert world.ledger.status_counts(MASTER) == {"posted": 1}

    # and two whole runs at once: each document once
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(run, commerce_to_intacct_ap))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    run(commerce_to_intacct_ap)  # picks up what a run left waiting for the other's vendor
    counts = present(world)
    assert counts and max(counts.values()) == 1
    vendor_ids = Counter(v.get("COMMERCE_CUSTOMER_ID") for v in world.intacct.vendors() if v.get("COMMERCE_CUSTOMER_ID"))
    assert max(vendor_ids.values()) == 1
    assert world.ledger.status_counts(INTEGRATION).get("received", 0) == 0


def test_a_vendor_create_whose_answer_was_lost_is_adopted_not_duplicated(commerce_world_factory):
    lost = {"n": 0}

    def intacct_transport(emulator):
        def handler(request: httpx.Request) -> httpx.Response:
            response = emulator.transport().handle_request(request)
            if b"<VENDOR>" in request.content and b"<create>" in request.content and lost["n"] == 0:
                lost["n"] += 1  # committed, then the answer never arrives: the same envelope is sent again
                raise httpx.ReadTimeout("answer lost", request=request)
            return response
        return httpx.MockTransport(handler)

    world = commerce_world_factory(intacct_transport=intacct_transport)
    seed(world, orders=6, vendors=False)
    state, _ = run(commerce_to_intacct_ap)
    assert lost["n"] == 1
    ids = Counter(v["COMMERCE_CUSTOMER_ID"] for v in world.intacct.vendors())
    assert ids and max(ids.values()) == 1
    assert world.ledger.status_counts(MASTER) == {"posted": len(ids)}
    failed = world.ledger.documents(INTEGRATION, status="failed")  # only guests: nobody may make their vendor
    assert failed and all(r.last_error.startswith("guest order of ") for r in failed), [r.last_error for r in failed]
    # the guests need a person (no vendor was given them); the lost answer left nothing failed
    assert_needs_a_person(state, failed=len(failed), reasons=(GUEST_WITHOUT_VENDOR,))


def test_purchase_order_its_invoice_and_a_credit_memo_on_that_invoice(commerce_world_factory):
    world = commerce_world_factory()
    seed(world, orders=2)
    buyer = world.adobe.store.create_customer({"email": "buyer@b2b.example", "firstname": "Bo", "lastname": "Yer"},
                                              website_id=2, store_id=2)
    order = add_order(world, customer=buyer, po="PO-778899", store_id=2, qty=3)
    store = world.adobe.store
    invoice = store.invoice(order["entity_id"])
    memo = store.refund(order["entity_id"], items={order["items"][0]["item_id"]: 1}, invoice_id=invoice["entity_id"])
    state, _ = run(commerce_to_intacct_ap)
    assert state.is_completed(), state
    assert not world.ledger.documents(INTEGRATION, status=["failed", "quarantined"])
    [po] = [p for p in world.intacct.po_documents() if p["DOCNO"] == order["increment_id"]]
    assert po["PONUMBER"] == "PO-778899" and po["entity"] == "US01" and po["VENDORID"] == f"VC-{buyer['id']}"
    assert po["total"] == order["grand_total"]
    [bill] = [b for b in world.intacct.bills() if b["RECORDID"] == f"CI-{invoice['increment_id']}"]
    assert bill["VENDORID"] == po["VENDORID"] and bill["total"] == invoice["grand_total"]
    [adjustment] = [a for a in world.intacct.ap_adjustments() if a["RECORDID"] == f"CM-{memo['increment_id']}"]
    assert adjustment["DOCNUMBER"] == bill["RECORDID"] and adjustment["total"] == -memo["grand_total"]
    # no bill for the PO itself
    assert not any(b["RECORDID"] == f"CO-{order['increment_id']}" for b in world.intacct.bills())


def test_paging_trap_repeated_last_page_and_an_entity_changing_mid_walk(commerce_world_factory):
    requests: list[str] = []
    touched: dict = {}

    def adobe_transport(emulator):
        def handler(request: httpx.Request) -> httpx.Response:
            response = emulator.transport().handle_request(request)
            if request.url.path.endswith("/V1/orders") and "updated_at" in str(request.url):
                requests.append(str(request.url))
                if len(requests) == 1:  # someone edits an order of the first page while we page
                    first = json.loads(response.read())["items"][0]
                    with emulator.lock:
                        emulator.store.add_comment(first["entity_id"], {"comment": "edited while paging"})
                    touched["id"] = str(first["entity_id"])
            return response
        return httpx.MockTransport(handler)

    world = commerce_world_factory(adobe_transport=adobe_transport, past_end="repeat")
    seed(world, orders=20)
    total = len(world.adobe.store.rows("order"))
    state, _ = run(commerce_to_intacct_ap, page_size=5)
    assert state.is_completed(), state
    keys = Counter(r.natural_key for r in world.ledger.documents(INTEGRATION, doc_type="order"))
    assert max(keys.values()) == 1
    # the edited order left this run's window (it is in the next one); nothing after it was skipped
    assert set(keys) | {touched["id"]} == {str(o["entity_id"]) for o in world.adobe.store.rows("order")}
    assert len(requests) <= total // 5 + 2  # never looping on the repeated last page
    run(commerce_to_intacct_ap, page_size=5)
    keys = Counter(r.natural_key for r in world.ledger.documents(INTEGRATION, doc_type="order"))
    assert len(keys) == total and max(keys.values()) == 1


def test_a_store_that_answers_the_same_page_whatever_is_asked_ends_the_walk(commerce_world_factory):
    frozen: dict = {}

    def adobe_transport(emulator):
        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/V1/orders") and "updated_at" in str(request.url):
                frozen.setdefault("body", emulator.transport().handle_request(request).read())
                frozen["n"] = frozen.get("n", 0) + 1
                return httpx.Response(200, content=frozen["body"], headers={"Content-Type": "application/json"})
            return emulator.transport().handle_request(request)
        return httpx.MockTransport(handler)

    world = commerce_world_factory(adobe_transport=adobe_transport)
    seed(world, orders=12)
    state, _ = run(commerce_to_intacct_ap, page_size=4)
    assert state.is_completed(), state
    assert frozen["n"] == 2  # the repeat is seen on the second page and the walk ends
    keys = Counter(r.natural_key for r in world.ledger.documents(INTEGRATION, doc_type="order"))
    assert len(keys) == 4 and max(keys.values()) == 1


def test_cursor_is_stored_after_each_durable_page_and_a_rerun_resumes(commerce_world_factory):
    from ml_connector.connectors.adobe import SyncCursor

    broken = {"on": True, "envelopes": 0}

    def intacct_transport(emulator):
        def handler(request: httpx.Request) -> httpx.Response:
            if b"create_bill" in request.content or b"<APBILL>" in request.content:
                broken["envelopes"] += 1
                if broken["on"] and broken["envelopes"] == 2:  # the second page's bills: the company is locked
                    return httpx.Response(401, text="Unauthorized")
            return emulator.transport().handle_request(request)
        return httpx.MockTransport(handler)

    world = commerce_world_factory(intacct_transport=intacct_transport)
    seed(world, orders=12)
    state, _ = run(commerce_to_intacct_ap, page_size=5)
    assert state.is_failed()
    cursor = world.ledger.get_cursor(INTEGRATION, "orders")
    assert cursor is not None  # page 1 was durable and posted: stored
    first_page = sorted(world.adobe.store.rows("order"), key=lambda o: (o["updated_at"], o["entity_id"]))[:5]
    assert SyncCursor.decode(cursor).id == first_page[-1]["entity_id"]
    assert world.ledger.status_counts(INTEGRATION).get("received", 0) >= 1  # page 2 is in the ledger, not lost
    broken["on"] = False
    state, _ = run(commerce_to_intacct_ap, page_size=5)
    assert state.is_completed(), state
    counts = present(world)
    assert counts and max(counts.values()) == 1
    assert world.ledger.status_counts(INTEGRATION).get("received", 0) == 0


def test_webhook_signatures_replays_and_the_run_they_start(commerce_world_factory):
    from starlette.testclient import TestClient

    from ml_connector.inbox import adobe
    from ml_connector.webhooks.app import create_app

    world = commerce_world_factory()
    seed(world, orders=2)
    run(commerce_to_intacct_ap)  # the poll has read everything so far
    order = add_order(world, email="fresh@example.org")
    started: list = []
    body, headers = world.adobe.webhook_delivery("order", order["entity_id"])
    with TestClient(create_app(TENANT, trigger=None, adobe={"trigger": lambda t, k: started.append((t, k))})) as client:
        assert client.post("/webhooks/adobe", content=body, headers={"Content-Type": "application/json"}).status_code == 401
        forged = dict(headers)
        forged["x-adobe-commerce-webhook-signature"] = world.adobe.webhook_delivery("order", 1)[1][
            "x-adobe-commerce-webhook-signature"]  # a real signature, of another body
        assert client.post("/webhooks/adobe", content=body, headers=forged).status_code == 401
        assert world.ledger.status_counts(adobe(INTEGRATION).box) == {}
        good = client.post("/webhooks/adobe", content=body, headers=headers)
        assert good.status_code == 200 and good.json() == {"op": "success"}
        assert good.headers["x-ml-connector-stored"] == "1"
        replay = client.post("/webhooks/adobe", content=body, headers=headers)
        assert replay.status_code == 200 and replay.headers["x-ml-connector-stored"] == "0"
    assert started == [(TENANT, "orders")]  # one run started, not one per delivery
    assert world.ledger.status_counts(adobe(INTEGRATION).box) == {"received": 1}
    state, _ = run(commerce_to_intacct_ap, poll=False)  # what the trigger starts
    assert state.result()["webhook_notifications"] == 1
    assert present(world)[("APBILL", f"CO-{order['increment_id']}")] == 1
    assert world.ledger.status_counts(adobe(INTEGRATION).box) == {"posted": 1}
    report = run(commerce_to_intacct_ap)[0].result()  # the poll then finds it a duplicate
    assert report["posted"] == 0 and present(world)[("APBILL", f"CO-{order['increment_id']}")] == 1


def test_vendor_master_records_conflicts_and_aligns_both_ways(commerce_world_factory):
    world = commerce_world_factory()
    seed(world, orders=24)
    # the procure run leaves only the guest without a vendor for a person
    assert_needs_a_person(run(commerce_to_intacct_ap)[0], failed=1, reasons=(GUEST_WITHOUT_VENDOR,))
    state, _ = run(commerce_ap_vendor_master)
    assert state.is_completed(), state
    conflicts = world.ledger.documents(MASTER, doc_type="conflict")
    assert conflicts and all(c.status == "skipped" and c.error_class == "conflict" for c in conflicts)
    assert any("name:" in c.last_error and "commerce wins (master)" in c.last_error for c in conflicts)
    renamed = next(v for v in world.intacct.vendors() if v["VENDORID"] == "V-1001")
    assert "(old name)" not in renamed["NAME"]  # Commerce masters names: the vendor was updated
    again = run(commerce_ap_vendor_master)[0].result()
    assert again["conflicts_recorded"] == 0 and again["vendors_updated"] == 0  # aligned now


def test_guest_without_vendor_fails_reconcile_finds_it_and_replay_posts_it(commerce_world_factory, tmp_path):
    from ml_connector.flows.replay import replay
    from ml_connector.ops.reconcile import reconcile
    from ml_connector.runtime.tenant import tenant

    world = commerce_world_factory()
    seed(world, orders=4)
    with world.adobe.lock:
        product = world.adobe.store.rows("product")[0]
        guest = world.adobe.store.place_order(
            store_id=1, guest={"email": "walk.in@example.net", "firstname": "Wal", "lastname": "Kin"}, method="checkmo",
            lines=[{"sku": product["sku"], "name": product["name"], "product_id": product["id"],
                    "price": product["price"], "qty": 1}])
    first = run(commerce_to_intacct_ap)[0]
    [failed] = world.ledger.documents(INTEGRATION, status="failed")
    assert failed.natural_key == str(guest["entity_id"]) and "walk.in@example.net" in failed.last_error
    # the walk-in guest needs a person: the run is Failed and names the guest and the reason
    assert_needs_a_person(first, failed=1, reasons=("walk.in@example.net", GUEST_WITHOUT_VENDOR))
    summary = reconcile(tenant(TENANT), INTEGRATION, tmp_path)
    assert summary["missing"] == 1 and summary["duplicated"] == 0 and summary["source"] == summary["present"] + 1
    world.intacct.add_vendor("V-WALKIN", "Walk-in supplier", email="walk.in@example.net")  # the fix
    state = replay(integration=INTEGRATION, tenant=TENANT, status="failed", return_state=True)
    assert state.is_completed(), state
    assert present(world)[("APBILL", f"CO-{guest['increment_id']}")] == 1
    assert next(b for b in world.intacct.bills() if b["RECORDID"] == f"CO-{guest['increment_id']}")["VENDORID"] == "V-WALKIN"
    assert reconcile(tenant(TENANT), INTEGRATION, tmp_path)["missing"] == 0


def test_a_crash_between_intent_and_outcome_is_settled_by_lookup_without_a_duplicate(commerce_world_factory, monkeypatch):
    import pytest

    from ml_connector.ledger.store import Ledger

    world = commerce_world_factory()
    seed(world, orders=12)
    original, calls = Ledger.record_outcomes, {"n": 0}

    def crash_once(self, integration, outcomes, run_id):
        if integration == INTEGRATION and any(o.status == "posted" for o in outcomes):
            calls["n"] += 1
            if calls["n"] == 1:
                raise SystemExit("worker killed after the post, before the outcome")
        return original(self, integration, outcomes, run_id)

    monkeypatch.setattr(Ledger, "record_outcomes", crash_once)
    with pytest.raises(SystemExit, match="worker killed"):
        commerce_to_intacct_ap(tenant=TENANT)
    stuck = world.ledger.status_counts(INTEGRATION).get("posting", 0)
    assert stuck > 0 and sum(present(world).values()) >= stuck  # in Intacct, unknown to the ledger
    state, _ = run(commerce_to_intacct_ap)
    assert state.is_completed(), state
    assert state.result()["recovered_posted"] == stuck
    counts = present(world)
    assert max(counts.values()) == 1 and world.ledger.status_counts(INTEGRATION).get("posting", 0) == 0
    assert sum(posted_refs(world).values()) == sum(counts.values())  # the ledger knows every one of them


def test_webhook_notifications_a_crashed_run_claimed_are_taken_back_at_once(commerce_world_factory, monkeypatch):
    """A run killed between taking and finishing its notifications leaves them claimed. While
    the claimer runs they are left alone (inside the lease); once it is over (crashed), the
    next run takes them back at once, not after the lease, and posts what they name."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed, Running
    from starlette.testclient import TestClient

    from ml_connector.inbox import adobe
    from ml_connector.webhooks.app import create_app

    @flow(name="commerce-to-intacct-ap-killed")
    def killed() -> None:  # stands for the run that will be SIGKILLed: only its flow run is needed
        pass

    monkeypatch.setenv("ML_CONNECTOR_INTENT_LEASE", "600")  # the production lease: only the run state frees them
    world = commerce_world_factory()
    seed(world, orders=2)
    run(commerce_to_intacct_ap)  # the poll has read everything so far
    order = add_order(world, email="late@example.org")
    body, headers = world.adobe.webhook_delivery("order", order["entity_id"])
    with TestClient(create_app(TENANT, trigger=None, adobe={"trigger": None})) as client:
        assert client.post("/webhooks/adobe", content=body, headers=headers).headers["x-ml-connector-stored"] == "1"
    box = adobe(INTEGRATION).box
    with get_client(sync_client=True) as client:
        live = client.create_flow_run(killed, state=Running())
    assert len(world.ledger.claim(box, world.ledger.pending_ids(box), str(live.id))) == 1

    state, _ = run(commerce_to_intacct_ap, poll=False)  # the claimer still runs: hands off
    assert state.result()["webhook_notifications"] == 0
    assert world.ledger.status_counts(box) == {"posting": 1}
    assert present(world)[("APBILL", f"CO-{order['increment_id']}")] == 0

    with get_client(sync_client=True) as client:  # SIGKILLed, then marked crashed (the zombie automation)
        client.set_flow_run_state(live.id, Crashed(message="SIGKILL"), force=True)
    state, _ = run(commerce_to_intacct_ap, poll=False)
    assert state.result()["webhook_notifications"] == 1
    assert world.ledger.status_counts(box) == {"posted": 1}
    assert present(world)[("APBILL", f"CO-{order['increment_id']}")] == 1


def test_the_pipelines_preview_is_what_ml_connector_preview_shows():
    from pathlib import Path

    import pytest

    from ml_connector.mappings.tenant import load_tenant
    from ml_connector.pipelines.commerce_ap import PIPELINE
    from ml_connector.preview import preview

    path = Path(__file__).parents[1] / "fixtures" / "commerce" / "order_processing.json"
    tenants = Path(__file__).parents[2] / "tenants"
    shown = PIPELINE.preview(TENANT, load_tenant(tenants / f"{TENANT}.yaml"), path.read_bytes(), path.name)
    assert "-> APBILL:CO-000000003 in entity US01, vendor VC-3" in shown and "<RECORDID>CO-000000003</RECORDID>" in shown
    assert shown == preview(INTEGRATION, path, tenant=TENANT)
    with pytest.raises(ValueError, match="tenant demo has no commerce.procure section"):
        PIPELINE.preview("demo", load_tenant(tenants / "demo.yaml"), path.read_bytes(), path.name)
