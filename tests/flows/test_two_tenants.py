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

from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ml_connector.connectors.sps import rsx
from ml_connector.credentials import save_block
from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.ledger.schema import POSTED
from ml_connector.mappings.sps_to_intacct import rsx_to_apbill
from ml_connector.mappings.tenant import TenantMapping, load_tenant, tenant_path
from ml_connector.sandbox.generator import Catalogue, demo_catalogue, generate
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master
from ml_connector.sandbox.sps import SpsEmulator
from ml_connector.tasks.resources import tenant

from tests.flows.conftest import make_world

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

    @property
    def ledger(self):
        return tenant(self.name).ledger


def run(flow_fn, side: Side, **params) -> dict:
    state = flow_fn(tenant=side.name, return_state=True, **params)
    assert state.is_completed(), state
    return state.result()


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
    invoices = {side.name: {r["RECORDID"]: Decimal(r["TRX_TOTALENTERED"]) for r in side.intacct.store.records("ARINVOICE")}
                for side in (first, twin)}
    assert invoices[first.name].keys() == invoices[twin.name].keys()
    assert all(invoices[first.name][k] != invoices[twin.name][k] for k in invoices[first.name])

    results = {side.name: run(intacct_to_sps, side) for side in (first, twin)}
    for side in (first, twin):
        c = results[side.name]
        assert c["duplicate"] == 0, (side.name, c)
        inbox = side.sps.inbox()
        sent = {p: rsx.parse(b, filename=p.rsplit("/", 1)[-1])[0][1] for p, b in inbox.items() if p.startswith("in/IN_")}
        assert {(p.split("_")[1], doc.header.invoice_header.invoice_number) for p, doc in sent.items()} == \
            side.seeded.expected_invoices
        for doc in sent.values():  # its own amounts
            assert doc.summary.total_amount == invoices[side.name][doc.header.invoice_header.invoice_number]
        acks = {p for p in inbox if p.startswith("in/PR_")}
        assert acks == {f"in/PR_{partner}_{number}.xml" for partner, number in side.seeded.orders}
        assert c["posted"] == len(sent) + len(acks)
