"""Two tenants on one ledger and one Prefect server, per integration: their source systems hold
the same partner ids and document numbers (the same seed), each tenant has its own emulators
(its own company), and the documents' content differs per tenant (prices, amounts). Each
target must hold exactly its own tenant's documents, by content; neither run may count the
other's documents as duplicates, nor consume the other's files.

The transport table (connectors/_http.mount) routes by origin, and every emulator of a system
has the same default origin, so one emulator per system could be mounted for all tenants:
:func:`own_host` gives the second tenant's emulators an origin of their own (the emulators read
``base_url`` per call), and that tenant's blocks name it. The first tenant is the one the
existing flow tests build (their world builders, imported); the second is a copy of its
mapping file under another ``tenant:`` name (:func:`twin_mapping`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from prefect.client.orchestration import get_client

from ml_connector.connectors.sps import rsx
from ml_connector.credentials import save_block
from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.ledger.schema import POSTED
from ml_connector.mappings.sps_to_intacct import rsx_to_apbill
from ml_connector.mappings.tenant import TenantMapping, load_tenant, tenant_path
from ml_connector.runtime.tenant import tenant
from ml_connector.sandbox.catalogue import Catalogue, demo_catalogue
from ml_connector.sandbox.generator import generate
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master
from ml_connector.sandbox.sps import SpsEmulator
from ml_connector.sandbox.sterling import SterlingEmulator
from ml_connector.tasks.ops import artifact_key
from tests.flows.conftest import fresh_ledger, make_world

QBO_TENANT = "demo-qbo"

PRICE_SHIFT = Decimal("1.00")  # the twin's prices: every line, so every document's amount, differs


# -- the second tenant ---------------------------------------------------------------------------


def twin_mapping(tmp_path: Path, monkeypatch, base: str, edit=None) -> TenantMapping:
    """``<base>-twin``: the base tenant's mapping file under another ``tenant:`` name, item costs
    shifted by :data:`PRICE_SHIFT` (``edit(data)`` changes more), written where tenant_path looks first."""
    folder = tmp_path / "tenants"
    folder.mkdir(exist_ok=True)
    data = yaml.safe_load(tenant_path(base).read_text())
    data["tenant"] = f"{base}-twin"
    for item in data.get("items", []):
        if item.get("unit_cost") is not None:
            item["unit_cost"] = str(Decimal(str(item["unit_cost"])) + PRICE_SHIFT)
    if edit is not None:
        edit(data)
    path = folder / f"{base}-twin.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(folder))
    return load_tenant(path)


def own_host(emulator, name: str, mount):
    """Serve ``emulator`` on an origin of its own for tenant ``name`` and mount it there."""
    emulator.base_url = f"https://{emulator.system}.{name}.sandbox.invalid"
    mount(emulator.base_url, emulator.transport())
    return emulator


def shifted_catalogue() -> Catalogue:
    """The generator's demo catalogue with every price shifted: the same seed gives the same
    partners, numbers, items and quantities, at other prices."""
    cat = demo_catalogue()
    return Catalogue(cat.partners, [replace(i, unit_price=i.unit_price + PRICE_SHIFT) for i in cat.items])


def seed_sps(sps: SpsEmulator, mapping: TenantMapping, n: int, seed: int, seeded: Seeded,
             catalogue: Catalogue | None = None) -> dict[tuple[str, str], Decimal]:
    """Generated RSX files in SPS's out/; returns each expected bill's total by (VENDORID, RECORDID),
    mapped as production maps them."""
    totals = {}
    for doc in generate(n, seed=seed, catalogue=catalogue):
        sps.put_out(doc.filename, doc.content)
        [(doc_type, model)] = rsx.parse(doc.content, filename=doc.filename)
        bill = rsx_to_apbill(doc_type, model, mapping)
        totals[(bill.vendor_id, bill.record_id)] = bill.total
        seeded.expected_bills.add((bill.vendor_id, bill.record_id))
        if doc.doc_type == "order":
            seeded.orders.add((doc.partner_id, doc.number))
    return totals


@dataclass
class Side:
    """One tenant's own systems and what was seeded in them."""

    name: str
    mapping: TenantMapping
    intacct: IntacctEmulator | None = None
    sps: SpsEmulator | None = None
    seeded: Seeded = field(default_factory=Seeded)
    totals: dict = field(default_factory=dict)
    qbo: QboEmulator | None = None
    realm: str | None = None
    unmapped: str = ""  # a QBO customer no partner claims
    sterling: SterlingEmulator | None = None
    adobe: object = None
    last_run: str = ""  # the flow run id of its latest run()

    @property
    def ledger(self):
        return tenant(self.name).ledger


def run(flow_fn, side: Side, **params) -> dict:
    state = flow_fn(tenant=side.name, return_state=True, **params)
    counts = state.result(raise_on_failure=False)
    assert isinstance(counts, dict), state
    # the state tells the truth (issue 15): Failed, with the count first, exactly when the run
    # left documents failed or quarantined
    if counts.get("failed") or counts.get("quarantined"):
        assert state.is_failed() and state.message.split(" of ")[0].isdigit(), state
    else:
        assert state.is_completed(), state
    side.last_run = str(state.state_details.flow_run_id)
    return counts


def bill_totals(intacct: IntacctEmulator) -> dict[tuple[str, str], Decimal]:
    bills = intacct.bills()
    counts = Counter((b["VENDORID"], b["RECORDID"]) for b in bills)
    assert max(counts.values(), default=1) == 1, f"a bill posted twice: {counts}"
    return {(b["VENDORID"], b["RECORDID"]): b["total"] for b in bills}


def keys_of(side: Side, integration: str) -> set[str]:
    return {r.idempotency_key for r in side.ledger.documents(integration)}


# -- SPS <-> Intacct (tenants demo and demo-twin) --------------------------------------------------


@pytest.fixture()
def sps_intacct_pair(tmp_path, monkeypatch, prefect_server, mount):
    """demo (the flows conftest's world) and demo-twin (its own Intacct company and SPS account on
    hosts of their own), the same documents at other prices."""
    world = make_world(tmp_path, monkeypatch)
    mount(world.intacct.base_url, world.intacct.transport())  # unmounted after the test
    mount(world.sps.base_url, world.sps.transport())
    first = Side("demo", world.mapping, world.intacct, world.sps, world.seeded)
    mapping = twin_mapping(tmp_path, monkeypatch, "demo")
    twin = Side(mapping.tenant, mapping, own_host(IntacctEmulator(company_id="ML-SANDBOX-TWIN"), mapping.tenant, mount),
                own_host(SpsEmulator(client_id="sps-twin-client"), mapping.tenant, mount))
    seed_intacct_master(twin.intacct, mapping)
    save_block(twin.name, "intacct", twin.intacct.credentials())
    save_block(twin.name, "sps", twin.sps.credentials())
    return first, twin


def test_sps_intacct_each_tenant_posts_its_own_documents(sps_intacct_pair):
    first, twin = sps_intacct_pair
    first.totals = seed_sps(first.sps, first.mapping, 8, 3, first.seeded)
    twin.totals = seed_sps(twin.sps, twin.mapping, 8, 3, twin.seeded, shifted_catalogue())
    assert set(first.totals) == set(twin.totals)  # the same partners and numbers ...
    assert all(first.totals[k] != twin.totals[k] for k in first.totals)  # ... at other amounts

    counts = run(sps_to_intacct, first)
    assert len(twin.sps.files("out/")) == 8  # the first tenant's run left the twin's files alone
    twin_counts = run(sps_to_intacct, twin)
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    runs = [uuid.UUID(side.last_run) for side in (first, twin)]
    with get_client(sync_client=True) as client:  # each run reports under its own tenant's key
        # filtered by run: the session's server holds more artifacts than one unfiltered page
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=runs)))
        reports = {str(a.flow_run_id): a.key for a in found if a.key and a.key.endswith("-run-report")}
    for side in (first, twin):
        assert reports[side.last_run] == artifact_key(side.name, "sps-intacct-run-report")
    for side, c in ((first, counts), (twin, twin_counts)):
        assert (c["read"], c["posted"], c["duplicate"]) == (8, len(side.totals), 0), (side.name, c)
        assert bill_totals(side.intacct) == side.totals  # its own documents, by content
        assert side.sps.files("out/") == {}
        assert {b["controlid"] for b in side.intacct.bills()} <= keys_of(side, "sps-intacct")
        assert side.ledger.status_counts("sps-intacct") == {POSTED: len(side.totals)}
    assert not keys_of(first, "sps-intacct") & keys_of(twin, "sps-intacct")
    # a second poll of each finds nothing: neither reads the other's documents back
    for side in (first, twin):
        again = run(sps_to_intacct, side)
        assert (again["read"], again["posted"], again["duplicate"]) == (0, 0, 0)


def test_intacct_sps_each_tenant_sends_its_own_invoices_and_acks(sps_intacct_pair):
    first, twin = sps_intacct_pair
    seed_sps(first.sps, first.mapping, 8, 3, first.seeded)
    seed_sps(twin.sps, twin.mapping, 8, 3, twin.seeded, shifted_catalogue())
    for side in (first, twin):
        run(sps_to_intacct, side)  # posted orders: each tenant acknowledges its own
        seed_ar_invoices(side.intacct, side.mapping, 6, 4, side.seeded)  # prices from its mapping file
    invoices = {side.name: {r["RECORDID"]: Decimal(r["TRX_TOTALENTERED"])
                            for r in side.intacct.store.records("ARINVOICE")} for side in (first, twin)}
    assert invoices[first.name].keys() == invoices[twin.name].keys()
    assert all(invoices[first.name][k] != invoices[twin.name][k] for k in invoices[first.name])

    results = {side.name: run(intacct_to_sps, side) for side in (first, twin)}
    for side in (first, twin):
        c = results[side.name]
        assert c["duplicate"] == 0, (side.name, c)
        inbox = side.sps.inbox()
        sent = {p: rsx.parse(b, filename=p.rsplit("/", 1)[-1])[0][1] for p, b in inbox.items()
                if p.startswith("in/IN_")}
        assert {(p.split("_")[1], doc.header.invoice_header.invoice_number) for p, doc in sent.items()} == \
            side.seeded.expected_invoices
        for doc in sent.values():  # its own amounts
            assert doc.summary.total_amount == invoices[side.name][doc.header.invoice_header.invoice_number]
        acks = {p for p in inbox if p.startswith("in/PR_")}
        assert acks == {f"in/PR_{partner}_{number}.xml" for partner, number in side.seeded.orders}
        assert c["posted"] == len(sent) + len(acks)



# -- Intacct -> Sterling and the Sterling mailbox (tenants demo and demo-twin) ---------------------


def x12_sent(side: Side) -> dict[tuple[str, str], tuple[str, Decimal]]:
    """(set id, document number) -> (Sterling partner, the 810's total or the 850's first unit
    price) of every X12 document delivered into the tenant's Sterling; each exactly once."""
    from ml_connector.connectors import x12

    out: dict = {}
    for p in side.sterling.partners():
        for d in side.sterling.delivered(p["partnerName"]):
            for g in x12.parse(d["content"]).groups:
                for ts in g.sets:
                    doc = x12.decode_document(ts)
                    key = (ts.id, doc.invoice_number if ts.id == "810" else doc.po_number)
                    assert key not in out, f"{key} delivered twice to {side.name}"
                    out[key] = (p["partnerName"], doc.total if ts.id == "810" else doc.lines[0].unit_price)
    return out


def inbound_850(price: str) -> bytes:
    from datetime import date

    from ml_connector.connectors import x12

    return x12.encode(x12.wrap([x12.encode_document(x12.PurchaseOrder850(
        po_type="SA", po_number="IN-850-1", po_date=date(2026, 10, 3),
        lines=[{"quantity": 2, "uom": "EA", "unit_price": price}]), "0001")],
        sender_id="ACMEDIST0001", receiver_id="MLCONNECTOR", control_number=77))


def test_intacct_sterling_and_the_mailbox_deliver_and_settle_each_tenants_own(sps_intacct_pair, mount):
    """Both tenants' partners have the same names, and both tenants number their interchanges
    from 1: each tenant's 997s settle its own documents only (the twin's NORTHWIND rejects what
    the first tenant's accepts), and a partner's 850 is stored for its own tenant."""
    from datetime import date

    from ml_connector.flows.intacct_to_sterling import intacct_to_sterling
    from ml_connector.flows.sterling_mailbox import sterling_mailbox
    from ml_connector.ledger.x12_controls import ack_rows
    from ml_connector.sandbox.intacct.po import add_purchase_order

    first, twin = sps_intacct_pair
    vendors = ["V-ACMEDI", "V-SPSALL", "V-NWTRAD", "V-GLOBEX"]
    for side, catalogue, price in ((first, None, Decimal("4.25")), (twin, shifted_catalogue(), Decimal("5.25"))):
        side.sterling = SterlingEmulator()
        if side is twin:
            own_host(side.sterling, side.name, mount)
        else:
            mount(side.sterling.base_url, side.sterling.transport())
        save_block(side.name, "sterling", side.sterling.credentials())
        side.totals = seed_sps(side.sps, side.mapping, 8, 3, side.seeded, catalogue)
        run(sps_to_intacct, side)  # the bills to send, posted through the inbound flow
        for k in range(4):
            add_purchase_order(side.intacct, f"PO-{900 + k}", vendors[k], [{"item_id": "WID-100", "quantity": 3 + k,
                               "price": price}], date(2026, 10, 2))
        side.sterling.answer_with_997("accept")
    twin.sterling.answer_with_997("reject", partner="NORTHWIND")

    results = {side.name: run(intacct_to_sterling, side) for side in (first, twin)}
    for side, price in ((first, Decimal("4.25")), (twin, Decimal("5.25"))):
        c = results[side.name]
        assert c["duplicate"] == 0, (side.name, c)
        sent = x12_sent(side)
        assert {n: total for (t, n), (_, total) in sent.items() if t == "810"} == \
            {number: total for (_, number), total in side.totals.items()}
        assert {n: p for (t, n), (_, p) in sent.items() if t == "850"} == {f"PO-{900 + k}": price for k in range(4)}
        assert c["posted"] == len(sent) + len(side.mapping.sterling.partners)  # the partners are written too

    for side in (first, twin):
        side.sterling.put_message("/ACME_DIST/Outbox", "po.x12", inbound_850("1.00" if side is first else "2.00"),
                                  extractable_always=True)
        run(sterling_mailbox, side)
    for side in (first, twin):
        states = Counter((r.partner, r.state) for r in ack_rows(side.ledger))
        assert sum(states.values()) == len(x12_sent(side))
        rejected = {p for (p, s) in states if s == "rejected"}
        assert rejected == (set() if side is first else {"NORTHWIND"}), (side.name, states)
        assert {s for (_, s) in states} <= {"accepted", "rejected"}
        [stored] = side.ledger.documents("sterling-inbound", doc_type="850")
        assert stored.natural_key == "IN-850-1"
        assert stored.raw_payload == inbound_850("1.00" if side is first else "2.00")  # its own partner's message
        again = run(sterling_mailbox, side)
        assert again.get("read", 0) == 0


# -- SPS <-> QuickBooks Online (tenants demo-qbo and demo-qbo-twin) --------------------------------


class InRealm:
    """A QBO emulator whose seeding helpers act on one realm (the demo parts' seeders use the
    default one)."""

    def __init__(self, qbo: QboEmulator, realm: str) -> None:
        self.qbo, self.realm = qbo, realm

    def __getattr__(self, name: str):
        return partial(getattr(self.qbo, name), realm=self.realm)


@pytest.fixture()
def qbo_pair(tmp_path, monkeypatch, prefect_server, mount):
    """``qbo_pair(shared)``: demo-qbo (test_sps_qbo_flows' world) and demo-qbo-twin, each with its
    own SPS. ``shared``: both companies are realms of one QBO (one URL, one Intuit app: client,
    secret and verifier token alike), as in production; otherwise the twin has a QBO of its own
    whose company has the same realm id (what a cache or lock keyed by realm alone would mix up)."""
    from ml_connector.demo.parts.sps_qbo import seed_qbo_company
    from tests.flows.test_sps_qbo_flows import make_world as make_qbo_world

    def make(shared: bool) -> tuple[Side, Side]:
        fresh_ledger(tmp_path, monkeypatch)
        w = make_qbo_world(mount)
        first = Side(QBO_TENANT, w.mapping, sps=w.sps, qbo=w.qbo, realm=w.qbo.realm_id, unmapped=w.unmapped_customer)
        mapping = twin_mapping(tmp_path, monkeypatch, QBO_TENANT)
        name = mapping.tenant
        if shared:
            qbo, realm = w.qbo, w.qbo.add_realm("9341453050200002")
        else:
            qbo = own_host(QboEmulator(client_id="qbo-twin-client", client_secret="qbo-twin-secret",
                                       verifier_token="qbo-twin-verifier"), name, mount)
            realm = qbo.realm_id
            assert realm == first.realm
        twin = Side(name, mapping, sps=own_host(SpsEmulator(client_id="sps-twin-client"), name, mount), qbo=qbo,
                    realm=realm, unmapped=seed_qbo_company(InRealm(qbo, realm), mapping))
        save_block(name, "sps", twin.sps.credentials())
        save_block(name, "qbo", qbo.credentials(realm))
        return first, twin

    return make


def seed_orders(side: Side, n: int, seed: int, catalogue: Catalogue | None = None) -> dict[str, Decimal]:
    """Generated RSX files in SPS's out/; returns each order's expected PO total by DocNumber."""
    from ml_connector.mappings.sps_to_qbo import order_to_po

    totals = {}
    for doc in generate(n, seed=seed, catalogue=catalogue):
        side.sps.put_out(doc.filename, doc.content)
        if doc.doc_type == "order":
            [(_, model)] = rsx.parse(doc.content, filename=doc.filename)
            po = order_to_po(model, side.mapping)
            totals[po.doc_number] = sum((ln.amount for ln in po.line), Decimal("0"))
    return totals


def po_totals(side: Side) -> dict[str, Decimal]:
    pos = side.qbo.entities("PurchaseOrder", realm=side.realm)
    counts = Counter(po["DocNumber"] for po in pos)
    assert max(counts.values(), default=1) == 1, f"a PO posted twice: {counts}"
    return {po["DocNumber"]: Decimal(str(po["TotalAmt"])) for po in pos}


def test_sps_qbo_each_tenant_posts_its_own_orders(qbo_pair):
    from ml_connector.demo.parts.sps_qbo import NEW_PARTNER
    from ml_connector.flows.sps_to_qbo import sps_to_qbo
    from ml_connector.tasks.qbo_master import MASTER

    first, twin = qbo_pair(shared=False)
    first.totals = seed_orders(first, 10, 5)
    twin.totals = seed_orders(twin, 10, 5, shifted_catalogue())
    assert first.totals.keys() == twin.totals.keys() and all(first.totals[k] != twin.totals[k] for k in first.totals)

    counts = run(sps_to_qbo, first)
    assert len(twin.sps.files("out/")) == 10
    twin_counts = run(sps_to_qbo, twin)
    for side, c in ((first, counts), (twin, twin_counts)):
        assert (c["read"], c["posted"], c["duplicate"]) == (10, len(side.totals), 0), (side.name, c)
        assert po_totals(side) == side.totals
        assert side.sps.files("out/") == {}
        fabrikam = [v for v in side.qbo.entities("Vendor", realm=side.realm)
                    if v["DisplayName"] == "Fabrikam Supply Co."]
        [link] = side.ledger.documents(MASTER, doc_type="vendor")
        assert len(fabrikam) == 1 and (link.natural_key, link.target_id) == (NEW_PARTNER, fabrikam[0]["Id"])
    assert first.qbo.tokens_issued and twin.qbo.tokens_issued  # each signed in to its own company
    for side in (first, twin):
        again = run(sps_to_qbo, side)
        assert (again["read"], again["posted"], again["duplicate"]) == (0, 0, 0)


def rsx_invoices(side: Side, prefix: str = "in/IN_") -> dict[str, Decimal]:
    """Invoice number -> total of the RSX invoices in the tenant's SPS in/."""
    out = {}
    for path, body in side.sps.inbox().items():
        if path.startswith(prefix):
            [(_, doc)] = rsx.parse(body, filename=path.rsplit("/", 1)[-1])
            out[doc.header.invoice_header.invoice_number] = doc.summary.total_amount
    return out


def qbo_invoice_totals(side: Side) -> dict[str, Decimal]:
    return {i["DocNumber"]: Decimal(str(i["TotalAmt"])) for i in side.qbo.entities("Invoice", realm=side.realm)}


def test_qbo_sps_cdc_each_tenant_sends_its_own_invoices(qbo_pair):
    from ml_connector.demo.parts.sps_qbo import seed_qbo_invoices
    from ml_connector.flows.qbo_to_sps import qbo_to_sps

    first, twin = qbo_pair(shared=True)  # two realms of one QBO: the same URL
    expected = {side.name: seed_qbo_invoices(InRealm(side.qbo, side.realm), side.mapping, 6, 8, side.unmapped)
                for side in (first, twin)}
    assert expected[first.name] == expected[twin.name]
    totals = {side.name: qbo_invoice_totals(side) for side in (first, twin)}
    assert all(totals[first.name][k] != totals[twin.name][k] for k in totals[first.name])

    results = {side.name: run(qbo_to_sps, side) for side in (first, twin)}
    for side in (first, twin):
        c = results[side.name]
        assert (c["posted"], c["duplicate"]) == (len(expected[side.name]), 0), (side.name, c)
        prefix = {"invoice": "IN", "shipment": "SH"}
        assert set(side.sps.inbox()) == {f"in/{prefix[t]}_{p}_{n}.xml" for t, p, n in expected[side.name]}
        sent = rsx_invoices(side)
        assert sent == {n: totals[side.name][n] for t, _, n in expected[side.name] if t == "invoice"}
    for side in (first, twin):
        again = run(qbo_to_sps, side)
        assert again["posted"] == 0 and len(side.sps.inbox()) == len(expected[side.name])


def test_qbo_webhooks_are_stored_and_delivered_per_tenant(qbo_pair):
    """One Intuit app for both companies: the same verifier token signs both realms'
    notifications. Each tenant's service stores its own realm's only, a delivery for one tenant
    takes none of the other's stored notifications, and each invoice reaches its own SPS."""
    from starlette.testclient import TestClient

    from ml_connector.flows.qbo_to_sps import qbo_to_sps
    from ml_connector.tasks.qbo_webhook import qbo_webhook_delivery
    from ml_connector.webhooks.app import create_app

    first, twin = qbo_pair(shared=True)
    handed: dict[str, list[int]] = {}
    notes, apps = {}, {}

    def hand_over(name: str, ids: list[int], _ledger) -> None:
        handed.setdefault(name, []).extend(ids)

    for side, price in ((first, "4.25"), (twin, "5.25")):
        customer = side.mapping.qbo.partners["ACMEDIST0001"].customer_ref
        line = {"item_id": side.mapping.qbo.items["WID-100"], "qty": 2, "unit_price": price}
        made = side.qbo.add_invoice(customer, [line], doc_number="INV-W1", txn_date="2026-11-02", realm=side.realm)
        changed = [c for c in side.qbo.changes(realm=side.realm) if c.id == made["Id"]]
        notes[side.name] = side.qbo.signed_notification(changed)
        apps[side.name] = TestClient(create_app(side.name, deliver=hand_over))
    with apps[first.name] as a, apps[twin.name] as b:
        body, headers = notes[first.name]
        assert b.post("/webhooks/qbo", content=body, headers=headers).json() == \
            {"events": 1, "stored": 0, "duplicates": 0, "other_realm": 1}  # the other company's change
        for side, client in ((first, a), (twin, b)):
            body, headers = notes[side.name]
            assert client.post("/webhooks/qbo", content=body, headers=headers).json()["stored"] == 1
    assert set(handed) == {first.name, twin.name} and not set(handed[first.name]) & set(handed[twin.name])
    for side in (first, twin):
        assert side.ledger.status_counts("qbo-webhook") == {"received": 1}

    # a delivery for the twin named the first tenant's notifications: it takes none of them
    assert qbo_webhook_delivery(twin.name, handed[first.name])["notifications"] == 0
    assert first.ledger.status_counts("qbo-webhook") == {"received": 1} and twin.sps.inbox() == {}
    for side in (first, twin):
        counts = qbo_webhook_delivery(side.name, handed[side.name])
        assert (counts["notifications"], counts["posted"]) == (1, 1)
    assert rsx_invoices(first) == {"INV-W1": Decimal("8.50")} and rsx_invoices(twin) == {"INV-W1": Decimal("10.50")}
    for side in (first, twin):  # the flow's CDC finds the same invoice: sent already, nothing of the other's
        again = run(qbo_to_sps, side)
        assert again["posted"] == 0 and list(side.sps.inbox()) == ["in/IN_ACMEDIST0001_INV-W1.xml"]


def test_qbo_master_data_each_tenant_syncs_its_own_company(qbo_pair):
    from ml_connector.demo.parts.sps_qbo import CONFLICT_ITEM, CREATED_ITEM, seed_master_data_cases
    from ml_connector.flows.qbo_master_data import qbo_master_data
    from ml_connector.ledger.schema import FAILED
    from ml_connector.tasks.qbo_master import CONFLICT, MASTER

    first, twin = qbo_pair(shared=False)  # the same realm id, two companies
    for side in (first, twin):
        seed_master_data_cases(InRealm(side.qbo, side.realm), side.mapping)
    for side in (first, twin):
        counts = run(qbo_master_data, side)
        assert (counts["created"], counts["adopted"], counts["conflicts_open"]) == (2, 1, 1), (side.name, counts)
    for side in (first, twin):
        cost = next(i.unit_cost for i in side.mapping.items if i.item_id == CREATED_ITEM)
        [created] = [i for i in side.qbo.entities("Item", realm=side.realm) if i.get("Sku") == CREATED_ITEM]
        assert Decimal(str(created["PurchaseCost"])) == cost  # its own tenant file's cost
        assert len([v for v in side.qbo.entities("Vendor", realm=side.realm)
                    if v["DisplayName"] == "Fabrikam Supply Co."]) == 1
        [conflict] = side.ledger.documents(MASTER, doc_type=CONFLICT)
        assert conflict.status == FAILED and conflict.natural_key == CONFLICT_ITEM
    # the first company aligns its SKU: its conflict closes, the twin's stays open
    wid = first.mapping.qbo.items[CONFLICT_ITEM]
    first.qbo.edit("Item", wid, Sku=CONFLICT_ITEM, realm=first.realm)
    assert run(qbo_master_data, first)["conflicts_resolved"] == 1
    again = run(qbo_master_data, twin)
    assert (again["created"], again["conflicts_open"], again["conflicts_resolved"]) == (0, 1, 0)
    assert [r.status for r in twin.ledger.documents(MASTER, doc_type=CONFLICT)] == [FAILED]


# -- Adobe Commerce -> Intacct (tenants demo-commerce and demo-commerce-twin) ----------------------

COMMERCE_TENANT = "demo-commerce"


def shift_prices(adobe) -> None:
    """Every product the seeder adds to this store costs :data:`PRICE_SHIFT` more; the random
    stream, so customers, orders and their numbers, stays the same."""
    store = adobe.store
    add_product = store.add_product

    def shifted(sku, name, price, *args, **kwargs):
        return add_product(sku, name, Decimal(str(price)) + PRICE_SHIFT, *args, **kwargs)

    store.add_product = shifted


@pytest.fixture()
def commerce_pair(tmp_path, monkeypatch, mount, commerce_world_factory):
    """demo-commerce (the flows conftest's world) and demo-commerce-twin: its own Commerce
    instance (its own webhook key pair) and multi-entity Intacct company, on hosts of their own."""
    import time

    from ml_connector.demo.parts.commerce_intacct_ap import setup_commerce_company
    from ml_connector.sandbox.adobe import AdobeEmulator

    world = commerce_world_factory()
    first = Side(COMMERCE_TENANT, world.mapping, intacct=world.intacct, adobe=world.adobe)
    mapping = twin_mapping(tmp_path, monkeypatch, COMMERCE_TENANT)
    twin = Side(mapping.tenant, mapping, intacct=IntacctEmulator(company_id="ML-COMMERCE-TWIN"),
                adobe=AdobeEmulator(clock=lambda: time.time() - 300, tenant_id="sandboxtenant02"))
    twin.adobe.signer.regenerate()
    setup_commerce_company(twin.intacct)
    own_host(twin.adobe, twin.name, mount)
    own_host(twin.intacct, twin.name, mount)
    shift_prices(twin.adobe)
    creds = twin.adobe.credentials()
    creds.pop("webhook_hmac_secret", None)  # RSA, as the first tenant's block
    save_block(twin.name, "adobe", creds)
    save_block(twin.name, "intacct", twin.intacct.credentials())
    return first, twin


def commerce_totals(side: Side) -> dict[str, Decimal]:
    """The grand total of each order (``CO-``) and invoice (``CI-``) in the tenant's Commerce."""
    with side.adobe.lock:
        orders = {f"CO-{o['increment_id']}": Decimal(str(o["grand_total"])) for o in side.adobe.store.rows("order")}
        invoices = {f"CI-{i['increment_id']}": Decimal(str(i["grand_total"])) for i in side.adobe.store.rows("invoice")}
    return orders | invoices


def test_commerce_intacct_ap_each_tenant_posts_its_own_documents_and_webhooks(commerce_pair):
    from starlette.testclient import TestClient

    from ml_connector.demo.parts.commerce_intacct_ap import seed_procure
    from ml_connector.flows.commerce_to_intacct_ap import commerce_to_intacct_ap
    from ml_connector.inbox import adobe
    from ml_connector.mappings.commerce_ap_documents import INTEGRATION
    from ml_connector.sandbox.adobe.seed import seed_adobe
    from ml_connector.tasks.adobe_webhook import adobe_webhook_delivery
    from ml_connector.webhooks.app import create_app
    from tests.flows.test_commerce_ap_flows import add_order, present

    first, twin = commerce_pair
    for side in (first, twin):
        with side.adobe.lock:
            seed_adobe(side.adobe.store, orders=8, seed=7, bad=False)
            seed_procure(side.intacct, side.adobe.store, side.mapping)
    results = {side.name: run(commerce_to_intacct_ap, side) for side in (first, twin)}
    bills = {}
    for side in (first, twin):
        c, made = results[side.name], present(side)
        assert c["duplicate"] == 0 and c["posted"] == sum(made.values()) and max(made.values()) == 1, (side.name, c)
        own = commerce_totals(side)
        bills[side.name] = {b["RECORDID"]: b["total"] for b in side.intacct.bills()}
        assert bills[side.name] and all(total == own[rid] for rid, total in bills[side.name].items())
    assert present(first) == present(twin)  # the same documents, by number ...
    assert all(bills[first.name][k] != bills[twin.name][k] for k in bills[first.name])  # ... each its own amounts

    # a new order in each store, announced by each instance's signed webhook
    notes, handed = {}, {}
    for side in (first, twin):
        order = add_order(side, email="fresh@example.org")
        notes[side.name] = (order["increment_id"], side.adobe.webhook_delivery("order", order["entity_id"]))
    assert notes[first.name][0] == notes[twin.name][0]  # the same order number in both stores
    apps = {side.name: TestClient(create_app(side.name, trigger=None, adobe={
        "deliver": lambda t, kind, ids, ledger: handed.setdefault(t, []).extend(ids[INTEGRATION])}))
        for side in (first, twin)}
    with apps[first.name] as a, apps[twin.name] as b:
        body, headers = notes[first.name][1]
        assert b.post("/webhooks/adobe", content=body, headers=headers).status_code == 401  # not its instance's key
        for side, client in ((first, a), (twin, b)):
            body, headers = notes[side.name][1]
            assert client.post("/webhooks/adobe", content=body, headers=headers).headers["x-ml-connector-stored"] == "1"
    assert not set(handed[first.name]) & set(handed[twin.name])
    box = adobe(INTEGRATION).box
    assert adobe_webhook_delivery(twin.name, INTEGRATION, handed[first.name], "orders") == {"notifications": 0}
    assert first.ledger.status_counts(box) == {"received": 1}
    for side in (first, twin):
        counts = adobe_webhook_delivery(side.name, INTEGRATION, handed[side.name], "orders")
        assert (counts["notifications"], counts["posted"]) == (1, 1), (side.name, counts)
        rid = f"CO-{notes[side.name][0]}"
        [bill] = [b for b in side.intacct.bills() if b["RECORDID"] == rid]
        assert bill["total"] == commerce_totals(side)[rid]
        assert side.ledger.status_counts(box) == {"posted": 1}


def test_commerce_intacct_o2c_each_tenant_closes_its_own_loop(tmp_path, monkeypatch, mount, o2c_world_factory):
    """Order to cash for both: each Intacct company holds its own Commerce store's invoices,
    payments, credit memos, stock and balances (the reconciliation of tests/flows/
    test_commerce_o2c_flows, per tenant), at its own amounts."""
    import time

    from ml_connector.demo.parts.commerce_intacct_o2c import seed_catalogue, seed_company, seed_customers
    from ml_connector.flows.commerce_to_intacct_o2c import commerce_to_intacct_o2c
    from ml_connector.sandbox.adobe import AdobeEmulator
    from ml_connector.sandbox.adobe.seed import seed_adobe
    from tests.flows.test_commerce_o2c_flows import O2C, problems

    world = o2c_world_factory(orders=8, seed=5, bad=False)
    mapping = twin_mapping(tmp_path, monkeypatch, COMMERCE_TENANT)
    twin = Side(mapping.tenant, mapping,
                intacct=own_host(IntacctEmulator(company_id="ML-O2C-TWIN"), mapping.tenant, mount),
                adobe=own_host(AdobeEmulator(tenant_id="sandboxtenant02"), mapping.tenant, mount))
    shift_prices(twin.adobe)
    with twin.adobe.lock:
        seed_adobe(twin.adobe.store, orders=8, seed=5, bad=False)
    seed_company(twin.intacct, mapping.commerce)
    opening = seed_catalogue(twin.adobe, twin.intacct, mapping.commerce)
    seed_customers(twin.adobe, twin.intacct, mapping.commerce)
    save_block(twin.name, "adobe", twin.adobe.credentials())
    save_block(twin.name, "intacct", twin.intacct.credentials())
    time.sleep(1.01 - time.time() % 1)  # as make_o2c_world: what was seeded this second is read by this run

    first = Side(COMMERCE_TENANT, world.mapping, intacct=world.intacct, adobe=world.adobe)
    invoices = {}
    for side, opened in ((first, world.opening), (twin, opening)):
        c = run(commerce_to_intacct_o2c, side)
        assert c["duplicate"] == 0 and c["posted"] > 0, (side.name, c)
        found = problems(SimpleNamespace(adobe=side.adobe, intacct=side.intacct, commerce=side.mapping.commerce,
                                         opening=opened, ledger=side.ledger))
        assert found["missing"] == [] and found["duplicated"] == [], (side.name, found)
        made = side.intacct.ar_invoices()
        assert {i["controlid"] for i in made} <= keys_of(side, O2C)
        invoices[side.name] = {i["RECORDID"]: i["total"] for i in made}
    assert invoices[first.name].keys() == invoices[twin.name].keys()
    assert all(invoices[first.name][k] != invoices[twin.name][k] for k in invoices[first.name])
    for side in (first, twin):
        assert run(commerce_to_intacct_o2c, side)["posted"] == 0


def test_a_tenants_delivery_worker_takes_only_its_own_deliveries(qbo_pair):
    """The production hand-over (``.delay()`` through the service's dispatch) for both tenants,
    and a task worker serving the first tenant only: it delivers the first tenant's invoice and
    leaves the twin's delivery scheduled for the twin's own worker (or its fallback)."""
    from prefect.client.orchestration import get_client
    from prefect.task_worker import serve
    from starlette.testclient import TestClient

    from ml_connector.tasks.qbo_webhook import qbo_webhook_delivery
    from ml_connector.webhooks.app import create_app, qbo_handover
    from ml_connector.webhooks.dispatch import TaskWorkerDispatch, tenant_task
    from ml_connector.webhooks.worker import served_tasks

    first, twin = qbo_pair(shared=True)
    dispatch = TaskWorkerDispatch(grace_seconds=3600)  # no fallback during the test
    try:
        for side in (first, twin):
            customer = side.mapping.qbo.partners["ACMEDIST0001"].customer_ref
            made = side.qbo.add_invoice(customer, [{"item_id": side.mapping.qbo.items["WID-100"], "qty": 1,
                                                    "unit_price": "3.00"}], doc_number="INV-T1", txn_date="2026-11-02",
                                        realm=side.realm)
            body, headers = side.qbo.signed_notification([c for c in side.qbo.changes(realm=side.realm)
                                                          if c.id == made["Id"]])
            with TestClient(create_app(side.name, deliver=qbo_handover(dispatch))) as client:
                assert client.post("/webhooks/qbo", content=body, headers=headers).json()["stored"] == 1
    finally:
        dispatch.close()  # waits for the hand-overs (.delay()) in progress
    serve(*served_tasks([first.name]), limit=1, timeout=8)  # the first tenant's worker, for a while
    assert first.ledger.status_counts("qbo-webhook") == {"posted": 1}
    assert list(first.sps.inbox()) == ["in/IN_ACMEDIST0001_INV-T1.xml"]
    assert twin.ledger.status_counts("qbo-webhook") == {"received": 1} and twin.sps.inbox() == {}
    with get_client(sync_client=True) as client:
        waiting = [r for r in client.read_task_runs(limit=200)
                   if r.task_key == tenant_task(qbo_webhook_delivery, twin.name).task_key]
    assert waiting and all(r.state.is_scheduled() for r in waiting)


def test_the_webhook_service_of_a_tenant_refuses_another_tenants_ledger(tmp_path):
    from ml_connector.inbox import QBO
    from ml_connector.ledger.store import Ledger
    from ml_connector.webhooks.adobe import adobe_routes
    from ml_connector.webhooks.app import create_app
    from ml_connector.webhooks.dispatch import Handover

    acme = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="acme")
    beta = acme.for_tenant("beta")
    with pytest.raises(ValueError, match="webhooks of tenant 'acme' given the ledger of tenant 'beta'"):
        create_app("acme", verifier_token="v", ledger=beta, trigger=None)
    with pytest.raises(ValueError, match="given the ledger of tenant 'beta'"):
        adobe_routes("acme", ledger=beta, consumers=[])
    with pytest.raises(ValueError, match="given the ledger of tenant 'beta'"):
        Handover("acme", QBO, (1,), beta, submit=lambda: None, fallback=lambda: None)
    create_app("acme", verifier_token="v", ledger=acme, trigger=None)  # its own: fine
    acme.dispose()

