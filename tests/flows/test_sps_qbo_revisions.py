"""SPS -> QBO, orders live: a change, replacement or cancellation of a posted order reaches its
PO in QBO exactly once (updated with the current SyncToken, closed on cancel), out-of-order
arrivals are not posted as new, a received PO is left to a person, and a revision whose run
died between intent and outcome is found by its key (docs/revisions-sps-qbo.md)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from ml_connector.connectors.sps import rsx
from ml_connector.demo.parts.sps_qbo import TENANT
from ml_connector.engine import Page, Run
from ml_connector.engine.pages import record_page
from ml_connector.flows.sps_to_qbo import sps_to_qbo
from ml_connector.ledger.schema import POSTED, QUARANTINED, SKIPPED
from ml_connector.mappings.sps_to_qbo import remap_order
from ml_connector.pipelines.sps_qbo import PIPELINE
from ml_connector.runtime.tenant import tenant
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.sandbox.rsx_builders import revised
from ml_connector.tasks.qbo import prepare_revision, revise_po
from ml_connector.tasks.qbo_master import effective_mapping
from ml_connector.tasks.sps import fetch_page
from tests.flows import test_sps_qbo_flows as flows

# the SPS-QBO worlds of the flow tests (pytest fixtures), and how they run a flow
qworld, qworld_factory, IN, run = flows.qworld, flows.qworld_factory, flows.IN, flows.run

SHIP_TO = {"Line1": "1 Dock Road", "City": "Denver"}


class Orders:
    """The world's generated orders as SPS sent them, and revisions of them as SPS sends those
    (the sandbox's builder: the same order with another purpose code, its first line changed)."""

    def __init__(self, w) -> None:
        self.w = w
        self.files = {}
        for name, content in w.sps.files("out/").items():
            [(doc_type, doc)] = rsx.parse(content, filename=name)
            if doc_type == "order" and (doc.header.order_header.trading_partner_id,
                                        doc.header.order_header.purchase_order_number) in w.seeded.orders:
                self.files[doc.header.order_header.purchase_order_number] = (name, doc)

    def numbers(self) -> list[str]:
        return sorted(self.files)

    def send(self, number: str, purpose: str, qty: int | None = None) -> None:
        """The order sent again with ``purpose``, its first line's quantity ``qty`` when given."""
        name, original = self.files[number]
        delta = Decimal(qty) - original.line_item[0].order_line.order_qty if qty is not None else Decimal(0)
        doc = revised(original, purpose, delta)
        stem = name.removeprefix("out/").rsplit(".", 1)[0]
        self.w.sps.put_out(f"{stem}-{purpose}-{qty or 0}.xml", rsx.encode_xml("order", [doc]))

    def hold_back(self, number: str) -> bytes:
        """Take the original out of SPS (it arrives later); its bytes."""
        name, _ = self.files[number]
        content = self.w.sps.files("out/")[name]
        tenant(TENANT).sps().delete(name)
        return content


def po_of(w, number: str) -> dict:
    [po] = [p for p in w.qbo.entities("PurchaseOrder") if p["DocNumber"] == number]
    return po


def row_of(w, number: str):
    [row] = [r for r in w.ledger.documents(IN) if r.doc_type == "order" and r.natural_key == number]
    return row


def updates_of(w, po_id: str) -> int:
    return sum(1 for c in w.qbo.changes() if c.entity == "PurchaseOrder" and c.id == po_id and c.operation == "Update")


def posted_world(qworld, n: int = 6):
    qworld.add_documents(n)
    orders = Orders(qworld)
    state, _ = run(sps_to_qbo)
    assert state.is_completed() and set(qworld.po_counts()) == qworld.expected_numbers()
    return orders


def test_a_change_updates_the_po_with_its_synctoken_and_a_cancellation_closes_it(qworld):
    orders = posted_world(qworld)
    number = orders.numbers()[0]
    before = po_of(qworld, number)
    orders.send(number, "04", qty=999)
    state, _ = run(sps_to_qbo)
    changed = po_of(qworld, number)
    price = Decimal(str(before["Line"][0]["ItemBasedExpenseLineDetail"]["UnitPrice"]))
    assert state.is_completed() and changed["Id"] == before["Id"] and changed["SyncToken"] == "1"
    assert Decimal(str(changed["Line"][0]["Amount"])) == 999 * price and changed["POStatus"] == "Open"
    row = row_of(qworld, number)
    assert (row.status, row.revision, row.target_id) == (POSTED, 2, before["Id"])

    orders.send(number, "01")
    state, _ = run(sps_to_qbo)
    closed = po_of(qworld, number)
    assert state.is_completed() and closed["POStatus"] == "Closed" and closed["SyncToken"] == "2"
    assert closed["Line"] == changed["Line"]  # closing changes nothing else
    assert all(c == 1 for c in qworld.po_counts().values()) and updates_of(qworld, before["Id"]) == 2
    assert qworld.ledger.latest_revisions(IN, stale_only=True) == []
    again, _ = run(sps_to_qbo)
    assert again.result()["posted"] == 0 and updates_of(qworld, before["Id"]) == 2


def test_a_change_keeps_what_a_person_added_in_qbo_and_a_replacement_clears_it(qworld):
    orders = posted_world(qworld)
    first, second = orders.numbers()[:2]
    for number in (first, second):
        qworld.qbo.edit("PurchaseOrder", po_of(qworld, number)["Id"], ShipAddr=SHIP_TO)
    orders.send(first, "04", qty=7)
    orders.send(second, "05", qty=7)
    state, _ = run(sps_to_qbo)
    assert state.is_completed()
    assert po_of(qworld, first)["ShipAddr"] == SHIP_TO  # sparse: fields we do not map are kept
    assert "ShipAddr" not in po_of(qworld, second)  # full: the replacement is the whole PO
    assert po_of(qworld, first)["Line"][0]["ItemBasedExpenseLineDetail"]["Qty"] == 7
    assert po_of(qworld, second)["Line"][0]["ItemBasedExpenseLineDetail"]["Qty"] == 7


def test_a_cancellation_before_its_original_posts_nothing_and_the_late_original_is_superseded(qworld):
    qworld.add_documents(4)
    orders = Orders(qworld)
    number = orders.numbers()[0]
    original = orders.hold_back(number)
    orders.send(number, "01")
    state, _ = run(sps_to_qbo)
    assert state.is_completed() and number not in qworld.po_counts()
    assert row_of(qworld, number).status == SKIPPED
    qworld.sps.put_out(f"late-{number}.xml", original)
    state, _ = run(sps_to_qbo)
    assert state.is_completed() and number not in qworld.po_counts() and row_of(qworld, number).status == SKIPPED
    assert [r.state for r in qworld.ledger.revisions_of(row_of(qworld, number).id)][-1] == "superseded"


def test_an_original_arriving_after_its_change_is_superseded_not_applied(qworld):
    qworld.add_documents(4)
    orders = Orders(qworld)
    number = orders.numbers()[0]
    original = orders.hold_back(number)
    orders.send(number, "04", qty=999)
    state, _ = run(sps_to_qbo)
    changed = po_of(qworld, number)
    assert state.is_completed() and changed["Line"][0]["ItemBasedExpenseLineDetail"]["Qty"] == 999
    qworld.sps.put_out(f"late-{number}.xml", original)
    state, _ = run(sps_to_qbo)
    assert state.is_completed() and po_of(qworld, number) == changed
    assert qworld.ledger.revisions_of(row_of(qworld, number).id)[-1].state == "superseded"


def test_a_received_po_needs_a_person_for_a_change_and_for_a_cancellation(qworld):
    orders = posted_world(qworld)
    first, second = orders.numbers()[:2]
    received = {n: po_of(qworld, n) for n in (first, second)}
    bills = {n: qworld.qbo.receive(po["Id"])["Id"] for n, po in received.items()}
    received = {n: po_of(qworld, n) for n in (first, second)}
    orders.send(first, "04", qty=999)
    orders.send(second, "01")
    state, _ = run(sps_to_qbo)
    assert state.is_failed() and state.message.startswith("2 of "), state.message
    for number, what in ((first, "change"), (second, "cancellation")):
        row = row_of(qworld, number)
        assert row.status == QUARANTINED and row.error_class == "needs_person"
        assert row.last_error.startswith(f"PO {number} (QBO {received[number]['Id']}) is received "
                                         f"(bill {bills[number]}): apply the {what} in QBO by hand, then replay it")
        assert po_of(qworld, number) == received[number]
    stale = {r.natural_key for r in qworld.ledger.latest_revisions(IN, stale_only=True)}
    assert stale == {first, second}


def test_a_stale_synctoken_is_read_again_and_the_change_retried_once(qworld_factory):
    edits = []

    def transport(qbo: QboEmulator):
        inner = qbo.transport()

        def handler(request: httpx.Request) -> httpx.Response:
            # A person edits the PO between our read and our update: the first update is stale (5010).
            if request.method == "POST" and b'"PrivateNote":"sps:' in request.content and b"mlc-rev:" in request.content \
                    and not edits:
                edits.append(qbo.edit("PurchaseOrder", target["Id"], ShipAddr=SHIP_TO))
            return inner.handle_request(request)

        return httpx.MockTransport(handler)

    w = qworld_factory(transport=transport)
    orders = posted_world(w)
    number = orders.numbers()[0]
    target = po_of(w, number)
    orders.send(number, "04", qty=999)
    state, _ = run(sps_to_qbo)
    po = po_of(w, number)
    assert state.is_completed() and len(edits) == 1
    assert po["SyncToken"] == "2" and po["ShipAddr"] == SHIP_TO  # the person's edit kept, ours applied on top
    assert po["Line"][0]["ItemBasedExpenseLineDetail"]["Qty"] == 999 and updates_of(w, target["Id"]) == 2


def test_a_po_received_while_the_change_is_written_is_not_overwritten(qworld_factory):
    bills = []

    def transport(qbo: QboEmulator):
        inner = qbo.transport()

        def handler(request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and b"mlc-rev:" in request.content and not bills:
                bills.append(qbo.receive(target["Id"]))  # received after our read: our update is stale
            return inner.handle_request(request)

        return httpx.MockTransport(handler)

    w = qworld_factory(transport=transport)
    orders = posted_world(w)
    number = orders.numbers()[0]
    target = po_of(w, number)
    orders.send(number, "04", qty=999)
    state, _ = run(sps_to_qbo)
    received = po_of(w, number)
    assert state.is_failed() and len(bills) == 1
    assert received["POStatus"] == "Closed" and received["Line"] == target["Line"]
    row = row_of(w, number)
    assert row.status == QUARANTINED and row.error_class == "needs_person" and "is received" in row.last_error


def dead_run_claims_the_revision(w, orders, number: str, purpose: str = "04"):
    """A run that recorded a revision (a change by default) and took its intent, then died."""
    orders.send(number, purpose, qty=999 if purpose == "04" else None)
    page = fetch_page.fn(TENANT, None)
    ids = record_page.fn(PIPELINE, Run(TENANT, IN, "dead-run"), Page(page)).new_ids
    [claimed] = w.ledger.claim(IN, ids, "dead-run")
    assert claimed.effect == {"04": "update", "01": "cancel"}[purpose] and claimed.revision == 2
    return claimed


@pytest.mark.parametrize("purpose", ["04", "01"])
def test_a_revision_written_by_a_run_that_died_before_its_outcome_is_found_not_written_twice(qworld, purpose):
    orders = posted_world(qworld)
    number = orders.numbers()[0]
    claimed = dead_run_claims_the_revision(qworld, orders, number, purpose)
    client = tenant(TENANT).qbo()
    revision = remap_order(claimed, effective_mapping(tenant(TENANT)))
    written = revise_po(client, claimed, prepare_revision(client, claimed, revision))
    assert written.ok  # the write landed; its outcome never reached the ledger
    po = po_of(qworld, number)
    assert po["POStatus"] == ("Closed" if purpose == "01" else "Open")
    state, _ = run(sps_to_qbo)
    assert state.is_completed() and state.result()["recovered_posted"] == 1
    assert po_of(qworld, number) == po and updates_of(qworld, po["Id"]) == 1
    assert (row_of(qworld, number).status, row_of(qworld, number).revision) == (POSTED, 2)
    assert qworld.ledger.latest_revisions(IN, stale_only=True) == []


def test_a_revision_whose_run_died_before_the_write_is_written_once_by_the_next_run(qworld):
    orders = posted_world(qworld)
    number = orders.numbers()[0]
    before = po_of(qworld, number)
    dead_run_claims_the_revision(qworld, orders, number)
    state, _ = run(sps_to_qbo)
    assert state.is_completed() and state.result()["recovered_requeued"] == 1
    after = po_of(qworld, number)
    assert after["Line"][0]["ItemBasedExpenseLineDetail"]["Qty"] == 999 and updates_of(qworld, before["Id"]) == 1
    assert qworld.ledger.latest_revisions(IN, stale_only=True) == []

