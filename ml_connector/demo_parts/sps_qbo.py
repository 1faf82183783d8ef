"""Demo part: SPS Commerce <-> QuickBooks Online, both directions, tenant ``demo-qbo``.

It has its own SPS sandbox (``sps-qbo``) so it never competes with SPS -> Intacct for the same
files, and its own QBO sandbox company, seeded in a fixed order so the Ids match
``tenants/demo-qbo.yaml``. Inbound: generated RSX documents (a few hostile ones); the orders
become purchase orders. Outbound: QBO invoices (a few for an unmapped customer, quarantined);
half of them are announced by a signed webhook delivered to the webhook app, the other half
only CDC finds.
"""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

from ..connectors.errors import BadDocument
from ..connectors.sps import rsx
from ..connectors.sps.models import natural_key
from ..credentials import save_block
from ..demo_world import DemoWorld, RunSpec, recon
from ..mappings.tenant import load_tenant, tenant_path
from ..sandbox.qbo import QboEmulator
from ..sandbox.seed import Seeded, seed_sps_documents
from ..sandbox.sps import SpsEmulator

TENANT = "demo-qbo"
BAD_FRACTION = 0.03


def qbo(world: DemoWorld) -> QboEmulator:
    return world.emulator("qbo", lambda: QboEmulator(faults=world.fault_plan(20), access_ttl=max(world.short_ttl, 60.0)))


def sps(world: DemoWorld) -> SpsEmulator:
    return world.emulator("sps-qbo", lambda: SpsEmulator(faults=world.fault_plan(21), token_ttl=world.short_ttl))


def seed_qbo_company(emulator: QboEmulator, mapping) -> str:
    """Vendors, customers, the expense account and items, in the order the tenant file's Ids
    assume; raises if an Id differs. Returns the Id of a customer no partner claims."""
    q = mapping.qbo
    made = {}
    for pid, p in mapping.partners.items():
        made[("vendor", pid)] = emulator.add_vendor(f"{p.name} (vendor)")["Id"]
    for pid, p in mapping.partners.items():
        if p.customer_id:
            made[("customer", pid)] = emulator.add_customer(p.name)["Id"]
    made[("account", "")] = emulator.add_account("Purchases")["Id"]
    for item in mapping.items:
        made[("item", item.item_id)] = emulator.add_item(item.item_id, unit_price=item.unit_cost,
                                                         purchase_cost=item.unit_cost, sku=item.vendor_part)["Id"]
    expected = {("vendor", pid): p.vendor_ref for pid, p in q.partners.items()}
    expected |= {("customer", pid): p.customer_ref for pid, p in q.partners.items() if p.customer_ref}
    expected |= {("item", k): v for k, v in q.items.items()} | {("account", ""): q.expense_account}
    wrong = {k: (v, made.get(k)) for k, v in expected.items() if made.get(k) != v}
    if wrong:
        raise RuntimeError(f"the QBO sandbox Ids differ from tenants/{TENANT}.yaml: {wrong}")
    return emulator.add_customer("Walk-in customer (no trading partner)")["Id"]


def seed_qbo_invoices(emulator: QboEmulator, mapping, count: int, seed: int, unmapped: str) -> set[tuple[str, str]]:
    rng = random.Random(seed)
    partners = [(pid, p.customer_ref) for pid, p in mapping.qbo.partners.items() if p.customer_ref]
    expected = set()
    for n in range(count):
        lost = n % 40 == 39
        pid, customer = (None, unmapped) if lost else partners[n % len(partners)]
        lines = []
        for _ in range(rng.randint(1, 3)):
            item = rng.choice(mapping.items)
            lines.append({"item_id": mapping.qbo.items[item.item_id], "qty": rng.randint(1, 12),
                          "unit_price": item.unit_cost or Decimal("9.99")})
        number = f"QI-{20000 + n}"
        emulator.add_invoice(customer, lines, doc_number=number, txn_date="2026-11-02")
        if pid:
            expected.add((pid, number))
    return expected


class SpsQboPart:
    def __init__(self) -> None:
        self.seeded = Seeded()
        self.expected_invoices: set[tuple[str, str]] = set()
        self.mapping = load_tenant(tenant_path(TENANT))

    def seed(self, world: DemoWorld) -> None:
        unmapped = seed_qbo_company(qbo(world), self.mapping)
        self.expected_invoices = seed_qbo_invoices(qbo(world), self.mapping, max(world.documents // 4, 1),
                                                   world.seed, unmapped)
        seed_sps_documents(sps(world), self.mapping, world.documents, world.seed + 1, BAD_FRACTION, self.seeded)

    def save_blocks(self, world: DemoWorld) -> None:
        save_block(TENANT, "sps", sps(world).credentials())
        save_block(TENANT, "qbo", qbo(world).credentials())

    def deliver_webhooks(self, world: DemoWorld) -> None:
        """Half the invoice changes arrive as a signed webhook (the rest only CDC finds)."""
        from starlette.testclient import TestClient

        from ..webhooks.app import create_app

        changes = [c for c in qbo(world).changes() if c.entity == "Invoice"][::2]
        if not changes:
            return
        body, headers = qbo(world).signed_notification(changes, fmt="cloudevents")
        with TestClient(create_app(TENANT, trigger=None)) as client:
            client.post("/webhooks/qbo", content=body, headers=headers)

    def runs(self, world: DemoWorld) -> list[RunSpec]:
        from ..flows.qbo_to_sps import qbo_to_sps
        from ..flows.sps_to_qbo import sps_to_qbo

        def inbound(tenant: str, return_state: bool = True):
            return sps_to_qbo(tenant=TENANT, return_state=return_state)

        def outbound(tenant: str, return_state: bool = True):
            if not getattr(self, "_delivered", False):
                self._delivered = True
                self.deliver_webhooks(world)
            return qbo_to_sps(tenant=TENANT, return_state=return_state)

        return [RunSpec("sps-qbo", inbound, lambda: not sps(world).files("out/")),
                RunSpec("qbo-sps", outbound)]

    def reconcile(self, world: DemoWorld, integration: str) -> dict:
        if integration == "sps-qbo":
            vendors = {p.vendor_ref: pid for pid, p in self.mapping.qbo.partners.items()}
            counts = Counter((vendors.get(po.get("VendorRef", {}).get("value")), po.get("DocNumber"))
                             for po in qbo(world).entities("PurchaseOrder"))
            return recon(self.seeded.orders, counts)
        counts: Counter = Counter()
        for path, content in sps(world).inbox().items():
            try:
                docs = rsx.parse(content, filename=path.rsplit("/", 1)[-1])
            except BadDocument:
                counts[("unreadable", path)] += 1
                continue
            for doc_type, doc in docs:
                counts[natural_key(doc_type, doc)] += 1
        return recon(self.expected_invoices, counts)
