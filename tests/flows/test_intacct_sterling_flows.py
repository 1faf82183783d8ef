"""Intacct -> Sterling (X12) flows end to end on the session's Prefect server, emulators in-process."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from ml_connector.connectors import _http, x12
from ml_connector.credentials import save_block
from ml_connector.flows.intacct_to_sterling import intacct_to_sterling
from ml_connector.flows.sterling_mailbox import sterling_mailbox
from ml_connector.ledger.schema import QUARANTINED
from ml_connector.ledger.store import Ledger
from ml_connector.ledger.x12_controls import ack_counts, ack_rows, next_control_numbers
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.intacct.po import add_purchase_order
from ml_connector.sandbox.sterling import SterlingEmulator
from tests.soak.outages import LineReadOutage

OUT, IN = "intacct-sterling", "sterling-inbound"


@pytest.fixture()
def sworld(world_factory):
    """The flows conftest's world (Intacct + SPS, demo tenant) plus a Sterling emulator."""
    made = []

    def factory(sterling_faults=None):
        w = world_factory()
        w.sterling = SterlingEmulator(faults=sterling_faults or FaultPlan())
        _http.mount(w.sterling.base_url, w.sterling.transport())
        save_block("demo", "sterling", w.sterling.credentials())
        made.append(w)
        return w

    yield factory
    for w in made:
        _http.unmount(w.sterling.base_url)


def seed_bills(world, n=12):
    """AP bills posted into Intacct through the SPS -> Intacct flow's own path (bills as data)."""
    from ml_connector.flows.sps_to_intacct import sps_to_intacct

    world.add_documents(n)
    assert sps_to_intacct(tenant="demo", return_state=True).is_completed()
    return {(b["VENDORID"], b["RECORDID"]) for b in world.intacct.bills()}


def seed_pos(world, n=4):
    vendors = ["V-ACMEDI", "V-SPSALL", "V-NWTRAD", "V-GLOBEX"]
    for k in range(n):
        add_purchase_order(world.intacct, f"PO-{900 + k}", vendors[k % 4],
                           [{"item_id": "WID-100", "quantity": 3 + k, "price": "4.25"}], date(2026, 10, 2))
    return {f"PO-{900 + k}" for k in range(n)}


def delivered_keys(world) -> Counter:
    counts: Counter = Counter()
    for p in world.sterling.partners():
        for d in world.sterling.delivered(p["partnerName"]):
            ic = x12.parse(d["content"])
            for g in ic.groups:
                for ts in g.sets:
                    doc = x12.decode_document(ts)
                    counts[(ts.id, getattr(doc, "invoice_number", None) or doc.po_number)] += 1
    return counts


def test_control_numbers_unique_and_survive_a_new_ledger(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    a = Ledger(url, tenant="t1")
    first = next_control_numbers(a, "ACME", 3) + next_control_numbers(a, "ACME", 2)
    assert first == [1, 2, 3, 4, 5]
    assert next_control_numbers(a, "OTHER", 1) == [1]  # per partner
    assert next_control_numbers(a.for_tenant("t2"), "ACME", 1) == [1]  # per tenant: its own sequence
    a.dispose()
    b = Ledger(url, tenant="t1")  # a restart
    assert next_control_numbers(b, "ACME", 1) == [6]
    assert next_control_numbers(b.for_tenant("t2"), "ACME", 1) == [2]


def test_concurrent_allocation_never_repeats(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'c.db'}", tenant="t")
    got, errors = [], []

    def worker():
        try:
            for _ in range(25):
                got.extend(next_control_numbers(ledger, "P", 2))
        except Exception as exc:  # pragma: no cover - shows in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 401))


def test_partner_sync_creates_then_updates(sworld):
    w = sworld()
    assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()
    names = {p["partnerName"]: p for p in w.sterling.partners()}
    assert set(names) == {"ACME_DIST", "SPS_TEST", "NORTHWIND", "GLOBEX_RETAIL"}
    assert names["ACME_DIST"]["givenName"] == "Acme Distribution"
    assert "/ACME_DIST/Inbox" in w.sterling.mailbox_paths()
    links = w.ledger.documents(OUT, doc_type="partner")
    assert {(r.partner, r.natural_key) for r in links} >= {("ACME_DIST", "V-ACMEDI")}
    # the vendor changes in Intacct: the partner is updated, not created again
    with w.intacct.lock:
        w.intacct.store.find("VENDOR", "V-ACMEDI")["NAME"] = "Acme Distribution Renamed"
    state = intacct_to_sterling(tenant="demo", return_state=True)
    assert state.result()["partners_written"] == 1
    names = {p["partnerName"]: p for p in w.sterling.partners()}
    assert names["ACME_DIST"]["givenName"] == "Acme Distribution Renamed"
    assert len(names) == 4


def test_bills_and_pos_delivered_once_with_997_accept_reject_overdue(sworld):
    w = sworld()
    bills = seed_bills(w)
    pos = seed_pos(w)
    w.sterling.answer_with_997("accept")
    w.sterling.answer_with_997("reject", partner="NORTHWIND")
    w.sterling.answer_with_997("none", partner="GLOBEX_RETAIL")
    assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()
    again = intacct_to_sterling(tenant="demo", return_state=True).result()  # nothing new: nothing sent
    assert again["posted"] == 0
    counts = delivered_keys(w)
    assert all(c == 1 for c in counts.values())
    assert {k for t, k in counts if t == "810"} == {b for _, b in bills}
    assert {k for t, k in counts if t == "850"} == pos
    # envelopes as each partner asked: SPS_TEST is 5010 with | and newline terminators
    sps = w.sterling.delivered("SPS_TEST")[0]["content"]
    assert sps.startswith(b"ISA|") and b"|00501|" in sps
    state = sterling_mailbox(tenant="demo", overdue_after_minutes=0, return_state=True)
    result = state.result()
    acks = ack_counts(w.ledger)
    by_partner = Counter((r.partner, r.state) for r in ack_rows(w.ledger))
    assert by_partner[("NORTHWIND", "rejected")] > 0 and not by_partner[("NORTHWIND", "accepted")]
    assert by_partner[("GLOBEX_RETAIL", "overdue")] > 0
    assert acks["accepted"] + acks["rejected"] + acks["overdue"] == sum(counts.values())
    assert result["newly_overdue"] == acks["overdue"]
    rejected = ack_rows(w.ledger, "rejected")[0]
    assert rejected.reasons and "segments in error" in rejected.reasons
    # a late 997 settles an overdue document
    w.sterling.answer_with_997("accept", partner="GLOBEX_RETAIL")
    assert sterling_mailbox(tenant="demo", return_state=True).is_completed()


def test_delivery_once_under_lost_responses(sworld):
    w = sworld(sterling_faults=FaultPlan(rate_lost_write=0.3, rate_5xx=0.1, seed=11))
    bills = seed_bills(w, 20)
    for _ in range(6):
        state = intacct_to_sterling(tenant="demo", return_state=True)
        pending = w.ledger.status_counts(OUT)
        if state.is_completed() and not pending.get("received") and not pending.get("posting"):
            break
    counts = delivered_keys(w)
    assert {k for t, k in counts if t == "810"} == {b for _, b in bills}
    assert all(c == 1 for c in counts.values()), {k: c for k, c in counts.items() if c > 1}


def test_bad_inbound_x12_is_quarantined(sworld):
    w = sworld()
    assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()  # creates the partners
    good = x12.encode(x12.wrap([x12.encode_document(x12.PurchaseOrder850(
        po_type="SA", po_number="IN-850-1", po_date=date(2026, 10, 3),
        lines=[{"quantity": 2, "uom": "EA", "unit_price": "1.00"}]), "0001")],
        sender_id="ACMEDIST0001", receiver_id="MLCONNECTOR", control_number=77))
    w.sterling.put_message("/ACME_DIST/Outbox", "po.x12", good, extractable_always=True)
    w.sterling.put_message("/ACME_DIST/Outbox", "trunc.x12", good[:60], extractable_always=True)
    wrong = good.replace(b"SE*", b"SE*9").replace(b"SE*99", b"SE*9")
    w.sterling.put_message("/ACME_DIST/Outbox", "counts.x12", wrong, extractable_always=True)
    state = sterling_mailbox(tenant="demo", return_state=True)
    rows = w.ledger.documents(IN, status=QUARANTINED)
    assert len(rows) == 2 and all(r.last_error for r in rows)
    assert state.is_failed() and state.message.startswith("2 of 3 documents quarantined: "), state
    stored = w.ledger.documents(IN, doc_type="850")
    assert [r.natural_key for r in stored] == ["IN-850-1"]
    # read once: a second poll finds nothing new
    assert sterling_mailbox(tenant="demo", return_state=True).result()["read"] == 0


# --- a resent readMore (the chaos soak's lost page, on the Sterling side) -------------------


def seed_many_pos(world, n: int) -> dict[str, datetime]:
    """``n`` purchase orders, one second apart in WHENMODIFIED; their numbers and stamps."""
    vendors = ["V-ACMEDI", "V-SPSALL", "V-NWTRAD", "V-GLOBEX"]
    start, made = datetime(2026, 10, 2, 8, 0, 0), {}
    for k in range(n):
        number = f"PO-{1000 + k}"
        add_purchase_order(world.intacct, number, vendors[k % 4], [{"item_id": "WID-100", "quantity": 1 + k % 5,
                           "price": "4.25"}], date(2026, 10, 2), when_modified=start + timedelta(seconds=k))
        made[number] = start + timedelta(seconds=k)
    return made


def test_a_resent_readmore_loses_no_purchase_order(sworld, monkeypatch):
    """The line ``read`` after the 2nd readMore fails past the HTTP layer's attempts, so Prefect
    retries ``read_page`` and the retry resends a readMore Intacct already answered: its page
    would be skipped for good. The listing notices the gap and starts over."""
    w = sworld()
    pos = seed_many_pos(w, 40)
    outage = LineReadOutage(w.intacct, after={2})
    monkeypatch.setattr(w.intacct, "dispatch", outage)
    state = intacct_to_sterling(tenant="demo", page_size=5, return_state=True)
    assert state.is_completed()
    assert outage.refused == outage.times  # the task failed once, after readMore had moved on
    assert len(w.ledger.documents(OUT, doc_type="850")) == len(pos)
    counts = delivered_keys(w)
    assert {k for t, k in counts if t == "850"} == set(pos)
    assert all(c == 1 for c in counts.values())
    cursor = w.ledger.get_cursor(OUT, "whenmodified-850")
    assert cursor == max(pos.values()).isoformat()  # moved after the whole listing, to its newest row


def test_a_dry_run_writes_nothing_anywhere_and_says_what_a_run_would_do(sworld):
    w = sworld()
    pos = seed_pos(w)
    w.sterling.answer_with_997("accept")
    tally = intacct_to_sterling(tenant="demo", dry_run=True, return_state=True).result()
    assert tally == {"read": len(pos), "would_post": len(pos), "would_skip": 0, "would_quarantine": 0}
    assert w.sterling.partners() == [] and w.ledger.documents(OUT) == []  # no partner written either
    assert w.ledger.get_cursor(OUT, "whenmodified-850") is None
    assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()
    messages = sum(len(w.sterling.mailbox_messages(f"/{p['partnerName']}/Outbox")) for p in w.sterling.partners())
    read = sterling_mailbox(tenant="demo", dry_run=True, return_state=True).result()
    assert read["read"] == read["would_post"] == messages > 0  # the partners' 997s, applied by a real run
    assert ack_counts(w.ledger)["accepted"] == 0 and w.ledger.documents(IN) == []
    assert sterling_mailbox(tenant="demo", return_state=True).result()["acks_applied"] == messages  # still extractable


def test_a_backfill_delivers_its_window_and_leaves_the_live_cursors_alone(sworld):
    w = sworld()
    pos = seed_many_pos(w, 6)
    assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()
    live = w.ledger.get_cursor(OUT, "whenmodified-850")
    assert live == max(pos.values()).isoformat()
    add_purchase_order(w.intacct, "PO-LATE", "V-ACMEDI", [{"item_id": "WID-100", "quantity": 1, "price": "4.25"}],
                       date(2026, 10, 2), when_modified=datetime(2026, 10, 2, 7, 0, 0))  # before the cursor
    since, until = (datetime(2026, 10, 2, h, m, tzinfo=UTC) for h, m in ((6, 0), (7, 30)))
    state = intacct_to_sterling(tenant="demo", since=since, until=until, return_state=True)
    assert state.is_completed() and state.result()["posted"] == 1
    assert w.ledger.get_cursor(OUT, "whenmodified-850") == live
    assert {k for t, k in delivered_keys(w) if t == "850"} == set(pos) | {"PO-LATE"}
