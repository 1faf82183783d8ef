"""SPS <-> QuickBooks Online flows end to end on the session's Prefect server, emulators in-process."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from ml_connector.credentials import load_credentials, save_block
from ml_connector.demo.parts.sps_qbo import TENANT, seed_qbo_company
from ml_connector.flows.qbo_to_sps import qbo_to_sps
from ml_connector.flows.sps_to_qbo import sps_to_qbo
from ml_connector.ledger.schema import QUARANTINED
from ml_connector.mappings.tenant import load_tenant, tenant_path
from ml_connector.runtime.clients import qbo_client
from ml_connector.runtime.tenant import reset, tenant
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.sandbox.seed import Seeded, seed_sps_documents
from ml_connector.sandbox.sps import SpsEmulator
from ml_connector.webhooks.app import create_app
from tests.flows.conftest import fresh_ledger

IN, OUT = "sps-qbo", "qbo-sps"


@dataclass
class QboWorld:
    qbo: QboEmulator
    sps: SpsEmulator
    mapping: object
    seeded: Seeded
    unmapped_customer: str

    @property
    def ledger(self):
        return tenant(TENANT).ledger

    def add_documents(self, n: int, *, seed: int = 5, bad_fraction: float = 0.0) -> None:
        seed_sps_documents(self.sps, self.mapping, n, seed, bad_fraction, self.seeded)

    def po_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for po in self.qbo.entities("PurchaseOrder"):
            counts[po["DocNumber"]] = counts.get(po["DocNumber"], 0) + 1
        return counts

    def expected_numbers(self) -> set[str]:
        return {number for _, number in self.seeded.orders}

    def invoice(self, number: str, customer_partner: str = "ACMEDIST0001") -> dict:
        customer = self.mapping.qbo.partners[customer_partner].customer_ref
        return self.qbo.add_invoice(customer, [{"item_id": self.mapping.qbo.items["WID-100"], "qty": 2,
                                                "unit_price": "4.25"}], doc_number=number, txn_date="2026-11-02")


def make_world(mount, *, qbo_faults=None, transport=None, realm_id: str | None = None) -> QboWorld:
    """The demo-qbo company (Ids as in tenants/demo-qbo.yaml) and an empty SPS, mounted in-process."""
    qbo = QboEmulator(faults=qbo_faults or FaultPlan(), **({"realm_id": realm_id} if realm_id else {}))
    sps = SpsEmulator()
    mount(qbo.base_url, transport(qbo) if transport else qbo.transport())
    mount(sps.base_url, sps.transport())
    mapping = load_tenant(tenant_path(TENANT))
    unmapped = seed_qbo_company(qbo, mapping)
    save_block(TENANT, "sps", sps.credentials())
    save_block(TENANT, "qbo", qbo.credentials())
    return QboWorld(qbo, sps, mapping, Seeded(), unmapped)


@pytest.fixture()
def qworld_factory(tmp_path, monkeypatch, prefect_server, mount):
    fresh_ledger(tmp_path, monkeypatch)
    return lambda **kwargs: make_world(mount, **kwargs)


@pytest.fixture()
def qworld(qworld_factory):
    return qworld_factory()


def run(flow_fn, **params):
    state = flow_fn(tenant=TENANT, return_state=True, **params)
    return state, str(state.state_details.flow_run_id)


def test_orders_become_purchase_orders_once_with_batches_and_requestids(qworld):
    qworld.add_documents(90)
    state, _ = run(sps_to_qbo)
    assert state.is_completed()
    assert set(qworld.po_counts()) == qworld.expected_numbers()
    assert all(c == 1 for c in qworld.po_counts().values())
    assert qworld.sps.files("out/") == {}
    po = qworld.qbo.entities("PurchaseOrder")[0]
    assert po["VendorRef"]["value"] in {p.vendor_ref for p in qworld.mapping.qbo.partners.values()}
    assert set(v for v in qworld.qbo.minorversions) == {"75"}
    again, _ = run(sps_to_qbo)
    assert again.result()["posted"] == 0 and sum(qworld.po_counts().values()) == len(qworld.expected_numbers())
    # the reconciliation finds every PO, including those of a partner onboarded by the run
    assert reconciled(IN) == {"source": len(qworld.expected_numbers()), "present": len(qworld.expected_numbers()),
                              "missing": 0, "duplicated": 0}


def test_bad_input_is_quarantined_with_reasons_while_the_rest_posts(qworld):
    qworld.add_documents(120, bad_fraction=0.2)
    state, _ = run(sps_to_qbo)
    assert set(qworld.po_counts()) == qworld.expected_numbers()
    rows = qworld.ledger.documents(IN, status=QUARANTINED)
    assert state.is_failed() and state.message.startswith(f"{len(rows)} of "), state
    assert rows and all(r.last_error and "\n" not in r.last_error and r.raw_payload for r in rows)
    assert any("unknown" in r.last_error for r in rows)


def test_existing_po_is_updated_and_a_stale_synctoken_is_retried_once(qworld_factory):
    edited = {"done": False}

    def transport(qbo: QboEmulator):
        inner = qbo.transport()

        def handler(request: httpx.Request) -> httpx.Response:
            # Someone edits the PO in QBO between our read and our update: the first update is stale.
            if (request.method == "POST" and request.url.path.endswith("/purchaseorder")
                    and b'"sparse":true' in request.content and not edited["done"]):
                edited["done"] = True
                qbo.edit("PurchaseOrder", pre["Id"], Memo="changed by a person")
            return inner.handle_request(request)

        return httpx.MockTransport(handler)

    w = qworld_factory(transport=transport)
    w.add_documents(6)
    number = sorted(w.expected_numbers())[0]
    partner = next(p for p, n in w.seeded.orders if n == number)
    vendor = w.mapping.qbo.partners[partner].vendor_ref
    pre = w.qbo.add("PurchaseOrder", {"VendorRef": {"value": vendor}, "DocNumber": number, "Line": [
        {"DetailType": "AccountBasedExpenseLineDetail", "Amount": 1,
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": w.mapping.qbo.expense_account}}}]})
    state, _ = run(sps_to_qbo)
    assert state.is_completed()
    assert edited["done"]
    assert w.po_counts()[number] == 1  # updated, not created again
    po = next(p for p in w.qbo.entities("PurchaseOrder") if p["DocNumber"] == number)
    assert int(po["SyncToken"]) == 2  # the person's edit, then our retried update
    assert all(ln["DetailType"] == "ItemBasedExpenseLineDetail" for ln in po["Line"])  # our lines replaced theirs
    assert set(w.po_counts()) == w.expected_numbers()


def test_requestid_replays_after_a_lost_response_no_duplicate_po(qworld_factory):
    w = qworld_factory(qbo_faults=FaultPlan(rate_lost_write=0.5, seed=3))
    w.add_documents(60)
    for _ in range(4):
        state, _ = run(sps_to_qbo)
        if state.is_completed() and not w.ledger.status_counts(IN).get("received"):
            break
    assert w.qbo.faults.counts.get("lost_write", 0) > 0
    assert w.qbo.replays > 0  # the retry got QBO's first answer back
    assert set(w.po_counts()) == w.expected_numbers()
    assert all(c == 1 for c in w.po_counts().values()), w.po_counts()


def test_cdc_catches_an_invoice_whose_webhook_never_came_and_webhooks_are_processed_once(qworld):
    from starlette.testclient import TestClient

    first = qworld.invoice("INV-1")
    body, headers = qworld.qbo.signed_notification([c for c in qworld.qbo.changes() if c.id == first["Id"]])
    started: list[str] = []
    with TestClient(create_app(TENANT, trigger=started.append)) as client:
        assert client.post("/webhooks/qbo", content=body, headers=headers).json()["stored"] == 1
    assert started == [TENANT]
    qworld.invoice("INV-2")  # no webhook for this one
    qworld.qbo.add_invoice(qworld.unmapped_customer, [{"item_id": "9", "qty": 1, "unit_price": "1"}],
                           doc_number="INV-X", txn_date="2026-11-02")
    state, _ = run(qbo_to_sps)
    # INV-X's customer maps to no partner: quarantined, so the run asks for a person
    assert state.is_failed() and state.message.startswith("1 of 4 documents quarantined: "), state
    inbox = qworld.sps.inbox()
    assert sorted(inbox) == ["in/IN_ACMEDIST0001_INV-1.xml", "in/IN_ACMEDIST0001_INV-2.xml"]
    assert qworld.ledger.status_counts("qbo-webhook") == {"posted": 1}
    assert qworld.ledger.documents(OUT, status=QUARANTINED)[0].natural_key == "INV-X"
    again, _ = run(qbo_to_sps)
    assert again.result()["posted"] == 0 and len(qworld.sps.inbox()) == 2


def test_rotated_refresh_token_is_persisted_to_the_block_under_concurrency(qworld):
    """Eight Prefect tasks at once hit an expired access token, three times over: one refresh
    each time (one refresher per company), and the block ends holding the live refresh token."""
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    @task
    def reads() -> int:
        client = qbo_client(tenant(TENANT))
        for _ in range(3):
            client.query("SELECT * FROM Vendor", 1, 10)
        return 1

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=8))
    def many() -> int:
        return sum(f.result() for f in [reads.submit() for _ in range(8)])

    for _ in range(3):
        qworld.qbo.expire_access_tokens()
        qbo_client(tenant(TENANT)).auth.invalidate()
        assert many() == 8
    assert qworld.qbo.refreshes == 3  # not one per task
    stored = load_credentials(TENANT, "qbo").refresh_token.get_secret_value()
    assert stored == qworld.qbo.current_refresh_token()  # no lost refresh token
    # a brand-new process (fresh client, same block) still connects with what the block holds
    reset()
    qworld.qbo.expire_access_tokens()
    qbo_client(tenant(TENANT)).query("SELECT * FROM Vendor", 1, 1)


def test_shipment_confirmation_goes_out_when_qbo_reports_the_ship_date(qworld):
    """An invoice saved without shipping goes out as an invoice; the edit that adds ShipDate,
    tracking number and carrier (a QBO shipment confirmation) is announced by a webhook and
    goes out as an RSX shipment, once."""
    from starlette.testclient import TestClient

    made = qworld.invoice("INV-S1")
    state, _ = run(qbo_to_sps)
    assert state.is_completed() and sorted(qworld.sps.inbox()) == ["in/IN_ACMEDIST0001_INV-S1.xml"]
    qworld.qbo.edit("Invoice", made["Id"], ShipDate="2026-11-05", TrackingNum="1Z999AA10000000001",
                    ShipMethodRef={"value": "UPS", "name": "UPS Ground"})
    update = [c for c in qworld.qbo.changes() if c.id == made["Id"] and c.operation == "Update"]
    body, headers = qworld.qbo.signed_notification(update)
    with TestClient(create_app(TENANT, trigger=None)) as client:
        assert client.post("/webhooks/qbo", content=body, headers=headers).json()["stored"] == 1
    state, _ = run(qbo_to_sps)
    assert state.is_completed() and state.result()["posted"] == 1
    inbox = qworld.sps.inbox()
    assert sorted(inbox) == ["in/IN_ACMEDIST0001_INV-S1.xml", "in/SH_ACMEDIST0001_INV-S1.xml"]
    assert b"<CarrierProNumber>1Z999AA10000000001</CarrierProNumber>" in inbox["in/SH_ACMEDIST0001_INV-S1.xml"]
    again, _ = run(qbo_to_sps)
    assert again.result()["posted"] == 0 and len(qworld.sps.inbox()) == 2
    # reconciliation counts the shipment as well as the invoice
    assert reconciled(OUT) == {"source": 2, "present": 2, "missing": 0, "duplicated": 0}
    qworld.qbo.edit("Invoice", qworld.invoice("INV-S2")["Id"], ShipDate="2026-11-06")
    assert reconciled(OUT) == {"source": 4, "present": 2, "missing": 2, "duplicated": 0}  # not sent yet


def reconciled(integration: str) -> dict:
    import tempfile
    from pathlib import Path

    from ml_connector.ops.reconcile import reconcile

    with tempfile.TemporaryDirectory() as out:
        summary = reconcile(tenant(TENANT), integration, Path(out))
    return {k: summary[k] for k in ("source", "present", "missing", "duplicated")}


def test_existing_po_lookup_is_one_query_per_page_of_up_to_100_docnumbers(qworld_factory):
    seen: list[str] = []

    def transport(qbo: QboEmulator):
        inner = qbo.transport()

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path.rsplit("/", 1)[-1] + " " + request.url.params.get("query", ""))
            return inner.handle_request(request)

        return httpx.MockTransport(handler)

    w = qworld_factory(transport=transport)
    w.add_documents(400)
    state, _ = run(sps_to_qbo, page_size=500)
    assert state.is_completed()
    posted = state.result()["posted"]
    assert posted == len(w.expected_numbers()) > 100
    lookups = [s for s in seen if s.startswith("query SELECT * FROM PurchaseOrder WHERE DocNumber IN")]
    assert len(lookups) == -(-posted // 100)  # one page, one IN list per 100 numbers
    batches = [s for s in seen if s.startswith("batch")]
    assert len(batches) == -(-posted // 30)  # creates still go 30 to a batch


def test_dry_runs_read_and_map_and_write_nothing(qworld):
    """Both directions' dry runs (the engine's) say what a run would do: SPS files stay in out/,
    QBO gets no purchase order, SPS no upload, and the ledger records nothing."""
    qworld.add_documents(20, bad_fraction=0.2)
    qworld.invoice("INV-D1")
    qworld.qbo.add_invoice(qworld.unmapped_customer, [{"item_id": "9", "qty": 1, "unit_price": "1"}],
                           doc_number="INV-DX", txn_date="2026-11-02")
    files = dict(qworld.sps.files("out/"))
    inbound, _ = run(sps_to_qbo, dry_run=True)
    tally = inbound.result()
    assert tally["read"] == tally["would_post"] + tally["would_skip"] + tally["would_quarantine"] > 0
    assert tally["would_post"] == len(qworld.expected_numbers()) and tally["would_quarantine"] > 0
    outbound, _ = run(qbo_to_sps, dry_run=True)
    assert outbound.result() == {"read": 2, "would_post": 1, "would_skip": 0, "would_quarantine": 1}
    assert qworld.sps.files("out/") == files and qworld.sps.inbox() == {}
    assert qworld.qbo.entities("PurchaseOrder") == []
    assert qworld.ledger.status_counts(IN) == {} and qworld.ledger.status_counts(OUT) == {}
    assert qworld.ledger.get_cursor(OUT, "cdc") is None
