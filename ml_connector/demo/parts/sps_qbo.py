"""Demo part: SPS Commerce <-> QuickBooks Online, both directions, tenant ``demo-qbo`` (``demo-qbo-k``
in the demo's world k).

It has its own SPS sandbox (``sps-qbo``) so it never competes with SPS -> Intacct for the same
files, and its own QBO sandbox company, seeded in a fixed order so the Ids match
``tenants/demo-qbo.yaml``.

* Master data (``qbo-master``): the partner being onboarded (FABRIKAM0001) gets its vendor
  created; item PLR-8 is adopted from the QBO item someone made with that SKU, CHS-1 is
  created; someone changed WID-300's SKU in QBO, which is recorded as a conflict, not
  overwritten.
* Inbound: generated RSX documents (a few hostile ones), plus a few orders from the new
  partner with the new items; the orders become purchase orders.
* Outbound: QBO invoices (a few for an unmapped customer, quarantined); a third carry shipping
  details when created and another third get them in a later edit: those are shipment
  confirmations and go out as RSX shipments too. Half the changes are announced by a signed
  webhook delivered to the webhook app, the rest only CDC finds.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from ...mappings.qbo_master import vendor_name
from ...mappings.tenant import load_tenant, tenant_path
from ...sandbox.catalogue import Catalogue, ItemSpec, PartnerSpec
from ...sandbox.generator import generate
from ...sandbox.qbo import QboEmulator
from ...sandbox.seed import Seeded, seed_sps_documents
from ...sandbox.sps import SpsEmulator
from ..world import DemoWorld, RunSpec, money_of, recon
from .revisions import RevisionTraffic, order_revisions
from .sps_intacct import inbox_documents, latest_sent

TENANT = "demo-qbo"
BAD_FRACTION = 0.03
NEW_PARTNER = "FABRIKAM0001"  # onboarded by the master-data sync (no vendor_ref in the tenant file)
ADOPTED_ITEM, CREATED_ITEM, CONFLICT_ITEM = "PLR-8", "CHS-1", "WID-300"
CARRIER = {"value": "UPS", "name": "UPS Ground"}


def qbo(world: DemoWorld) -> QboEmulator:
    return world.emulator("qbo", lambda: QboEmulator(faults=world.fault_plan(20), access_ttl=max(world.short_ttl, 60.0),
                                                     **world.identity("qbo")))


def sps(world: DemoWorld) -> SpsEmulator:
    return world.emulator("sps-qbo", lambda: SpsEmulator(faults=world.fault_plan(21), token_ttl=world.short_ttl,
                                                         **world.identity("sps")))


def seed_qbo_company(emulator: QboEmulator, mapping) -> str:
    """Vendors, customers, the expense account and items, in the order the tenant file's Ids
    assume; raises if an Id differs. Returns the Id of a customer no partner claims."""
    q = mapping.qbo
    made = {}
    for pid, p in mapping.partners.items():
        if pid in q.partners and q.partners[pid].vendor_ref:  # the others are onboarded by the sync
            made[("vendor", pid)] = emulator.add_vendor(f"{p.name} (vendor)")["Id"]
    for pid, p in mapping.partners.items():
        if p.customer_id:
            made[("customer", pid)] = emulator.add_customer(p.name)["Id"]
    made[("account", "")] = emulator.add_account("Purchases")["Id"]
    for item in (x for x in mapping.items if x.item_id in q.items):  # the others: the sync's job
        made[("item", item.item_id)] = emulator.add_item(item.item_id, unit_price=item.unit_cost,
                                                         purchase_cost=item.unit_cost, sku=item.vendor_part)["Id"]
    expected = {("vendor", pid): p.vendor_ref for pid, p in q.partners.items() if p.vendor_ref}
    expected |= {("customer", pid): p.customer_ref for pid, p in q.partners.items() if p.customer_ref}
    expected |= {("item", k): v for k, v in q.items.items()} | {("account", ""): q.expense_account}
    wrong = {k: (v, made.get(k)) for k, v in expected.items() if made.get(k) != v}
    if wrong:
        raise RuntimeError(f"the QBO sandbox Ids differ from tenants/{TENANT}.yaml: {wrong}")
    return emulator.add_customer("Walk-in customer (no trading partner)")["Id"]


def seed_qbo_invoices(emulator: QboEmulator, mapping, count: int, seed: int, unmapped: str,
                      price: Callable[[Decimal], Decimal] = lambda amount: amount) -> set[tuple[str, str, str]]:
    """QBO invoices, a third shipped when created, a third shipped by a later edit; returns the
    expected (doc type, partner, number) of what must reach SPS. ``price`` sets each line's unit
    price from the item's cost (the demo's further worlds sell dearer)."""
    rng = random.Random(seed)
    partners = [(pid, p.customer_ref) for pid, p in mapping.qbo.partners.items() if p.customer_ref]
    expected = set()
    for n in range(count):
        lost = n % 40 == 39
        pid, customer = (None, unmapped) if lost else partners[n % len(partners)]
        lines = []
        for _ in range(rng.randint(1, 3)):
            item = rng.choice([x for x in mapping.items if x.item_id in mapping.qbo.items])
            lines.append({"item_id": mapping.qbo.items[item.item_id], "qty": rng.randint(1, 12),
                          "unit_price": price(item.unit_cost or Decimal("9.99"))})
        number = f"QI-{20000 + n}"
        shipping = {"ShipDate": "2026-11-03", "TrackingNum": f"1Z999AA1{n:08d}", "ShipMethodRef": CARRIER}
        extra = {"CustomField": [{"DefinitionId": "1", "Name": "P.O. Number", "Type": "StringType",
                                  "StringValue": f"PO{n:06d}"}]} if n % 2 else {}
        made = emulator.add_invoice(customer, lines, doc_number=number, txn_date="2026-11-02",
                                    **(shipping if n % 3 == 0 else {}), **extra)
        if n % 3 == 1:  # shipped later: QBO reports the edit (webhook Update, or CDC)
            emulator.edit("Invoice", made["Id"], **shipping)
        if pid:
            expected.add(("invoice", pid, number))
            if n % 3 != 2:
                expected.add(("shipment", pid, number))
    return expected


def seed_master_data_cases(emulator: QboEmulator, mapping) -> None:
    """What the master-data sync meets: an item someone made in QBO with our SKU (adopted),
    and an item whose SKU someone changed in QBO (a conflict, recorded and not overwritten)."""
    adopted = next(x for x in mapping.items if x.item_id == ADOPTED_ITEM)
    emulator.add_item("Pliers, 8 in (made in QBO)", sku=adopted.vendor_part, purchase_cost=adopted.unit_cost)
    emulator.edit("Item", mapping.qbo.items[CONFLICT_ITEM], Sku=f"{CONFLICT_ITEM}-OLD")


def new_partner_catalogue(mapping, price: Callable[[Decimal], Decimal] = lambda amount: amount) -> Catalogue:
    """The onboarded partner's orders, with the synced items among their lines."""
    by_id = {x.item_id: x for x in mapping.items}
    items = [ItemSpec(x.buyer_part, x.vendor_part, x.upc, x.item_id, price(x.unit_cost or Decimal("1")))
             for x in (by_id[ADOPTED_ITEM], by_id[CREATED_ITEM], by_id["WID-100"])]
    return Catalogue([PartnerSpec(NEW_PARTNER, mapping.partners[NEW_PARTNER].vendor_id,
                                  mapping.partners[NEW_PARTNER].name)], items)


def seed_new_partner_orders(emulator: SpsEmulator, mapping, count: int, seed: int, seeded: Seeded,
                            price: Callable[[Decimal], Decimal] = lambda amount: amount) -> None:
    """Documents from the partner being onboarded, numbered apart from the main feed's (PO
    numbers are QBO DocNumbers, which must not collide with another vendor's)."""
    for doc in generate(count, seed=seed, catalogue=new_partner_catalogue(mapping, price), first_number=900_000):
        emulator.put_out(doc.filename, doc.content)
        if doc.doc_type == "order" and doc.expect == "post":
            seeded.orders.add((doc.partner_id, doc.number))


def cancelled_po(po: dict) -> bool:
    """A purchase order closed by a cancellation (one a bill received is Closed too, and lists it)."""
    return po.get("POStatus") == "Closed" and not po.get("LinkedTxn")


def later_invoice_changes(emulator: QboEmulator, expected: set[tuple[str, str, str]]) -> dict[str, list[dict]]:
    """The invoices a person changes in QBO once they were sent: one voided (a mapped one that
    confirms no shipment) and another edited (its first line's quantity up by two). Returns
    {"edit": [invoice], "void": [invoice]} as they are now."""
    invoices = {number for kind, _, number in expected if kind == "invoice"}
    shipped = {number for kind, _, number in expected if kind == "shipment"}
    mapped = [inv for inv in emulator.entities("Invoice") if inv.get("DocNumber") in invoices]
    void = [inv for inv in mapped if inv.get("DocNumber") not in shipped][:1]
    return {"edit": [inv for inv in mapped if inv not in void][:1], "void": void}


def edit_quantity(emulator: QboEmulator, invoice: dict, more: int = 2) -> None:
    lines = [dict(line) for line in invoice["Line"] if line.get("DetailType") == "SalesItemLineDetail"]
    detail = dict(lines[0]["SalesItemLineDetail"])
    detail["Qty"] = Decimal(str(detail["Qty"])) + more
    lines[0] = {**lines[0], "SalesItemLineDetail": detail,
                "Amount": (Decimal(str(detail["UnitPrice"])) * detail["Qty"]).quantize(Decimal("0.01"))}
    emulator.edit("Invoice", invoice["Id"], Line=[{k: v for k, v in line.items() if k not in ("Id", "LineNum")}
                                                  for line in lines])


class SpsQboPart:
    tenant_base = TENANT

    def __init__(self) -> None:
        self.seeded = Seeded()
        self.revisions = RevisionTraffic([], {})
        self.expected_invoices: set[tuple[str, str, str]] = set()
        self.invoice_changes: dict[str, list[dict]] = {"edit": [], "void": []}
        self.invoices_changed = False
        self.mapping = load_tenant(tenant_path(TENANT))

    def seed(self, world: DemoWorld) -> None:
        self.mapping = load_tenant(tenant_path(world.tenant_name(TENANT)))
        unmapped = seed_qbo_company(qbo(world), self.mapping)
        seed_master_data_cases(qbo(world), self.mapping)
        self.expected_invoices = seed_qbo_invoices(qbo(world), self.mapping, max(world.documents // 4, 1),
                                                   world.seed, unmapped, world.price)
        self.invoice_changes = later_invoice_changes(qbo(world), self.expected_invoices)
        seed_sps_documents(sps(world), self.mapping, world.documents, world.seed + 1, BAD_FRACTION, self.seeded,
                           catalogue=world.catalogue())
        seed_new_partner_orders(sps(world), self.mapping, max(world.documents // 20, 3), world.seed + 2, self.seeded,
                                world.price)
        self.revisions = order_revisions(max(world.documents // 10, 4), world.seed + 4, world.catalogue())
        self.revisions.drop_next(sps(world).put_out)

    def save_blocks(self, world: DemoWorld) -> None:
        world.sandboxes.save_blocks(world.tenant_name(TENANT), ["sps-qbo", "qbo"])

    def deliver_webhooks(self, world: DemoWorld) -> None:
        """Half the invoice changes arrive as a signed webhook (the rest only CDC finds)."""
        from starlette.testclient import TestClient

        from ...webhooks.app import create_app

        changes = [c for c in qbo(world).changes() if c.entity == "Invoice"][::2]
        if not changes:
            return
        body, headers = qbo(world).signed_notification(changes, fmt="cloudevents")
        with TestClient(create_app(world.tenant_name(TENANT), trigger=None)) as client:
            client.post("/webhooks/qbo", content=body, headers=headers)

    def runs(self, world: DemoWorld) -> list[RunSpec]:
        from ...flows.qbo_master_data import qbo_master_data
        from ...flows.qbo_to_sps import qbo_to_sps
        from ...flows.sps_to_qbo import sps_to_qbo

        def outbound(tenant: str, return_state: bool = True):
            if not getattr(self, "_delivered", False):
                self._delivered = True
                self.deliver_webhooks(world)
            elif not self.invoices_changed and notifications_taken() and settled("qbo-sps"):  # once they went out
                self.change_invoices(world, name)
            return qbo_to_sps(tenant=tenant, return_state=return_state)

        name = world.tenant_name(TENANT)

        def notifications_taken() -> bool:  # every webhook notification handled
            from ...runtime.tenant import tenant as tenant_resources

            waiting = tenant_resources(name).ledger.status_counts("qbo-webhook")
            return not waiting.get("received") and not waiting.get("posting")

        def settled(integration: str = "sps-qbo") -> bool:  # nothing read and waiting to be written
            from ...runtime.tenant import tenant as tenant_resources

            pending = tenant_resources(name).ledger.status_counts(integration)
            return not pending.get("received") and not pending.get("posting")

        return [RunSpec("qbo-master", qbo_master_data, tenant=name),
                RunSpec("sps-qbo", self.revisions.runs(sps_to_qbo, sps(world).put_out, settled),
                        lambda: self.revisions.done() and not sps(world).files("out/"), tenant=name),
                RunSpec("qbo-sps", outbound, lambda: self.invoices_changed and notifications_taken(), tenant=name)]

    def change_invoices(self, world: DemoWorld, tenant: str) -> None:
        """A person edits one sent invoice and voids another (QBO -> SPS sends a replacement and a
        cancellation; CDC finds both); one not sent yet is left alone (its change is no revision)."""
        from ...runtime.tenant import tenant as tenant_resources

        sent = {r.natural_key for r in tenant_resources(tenant).ledger.documents("qbo-sps", status="posted",
                                                                                 doc_type="invoice")}
        self.invoice_changes = {kind: [inv for inv in invoices if inv.get("DocNumber") in sent]
                                for kind, invoices in self.invoice_changes.items()}
        for invoice in self.invoice_changes["edit"]:
            edit_quantity(qbo(world), invoice)
        for invoice in self.invoice_changes["void"]:
            qbo(world).void("Invoice", invoice["Id"])
        self.invoices_changed = True

    def sent_invoices(self, world: DemoWorld) -> Counter:
        """(doc type, partner, number, "live" or "cancelled") of the latest file of each document
        in SPS in/ (a replacement or cancellation is a file of its own beside the original)."""
        return Counter((*key, "cancelled" if cancelled else "live") for key, cancelled in latest_sent(sps(world)))

    def expected_sent(self) -> set[tuple[str, str, str, str]]:
        voided = {inv.get("DocNumber") for inv in self.invoice_changes["void"]} if self.invoices_changed else set()
        return {(*key, "cancelled" if key[0] == "invoice" and key[2] in voided else "live")
                for key in self.expected_invoices}

    def reconcile(self, world: DemoWorld, integration: str) -> dict:
        if integration == "qbo-master":
            return self.reconcile_master(world)
        if integration == "sps-qbo":
            vendors = self.vendor_ids(world)
            counts = Counter((vendors.get(po.get("VendorRef", {}).get("value")), po.get("DocNumber"))
                             for po in qbo(world).entities("PurchaseOrder") if not cancelled_po(po))
            return recon(self.seeded.orders | self.revisions.in_target(), counts)
        return recon(self.expected_sent(), self.sent_invoices(world))

    def contents(self, world: DemoWorld, integration: str) -> dict | None:
        """The money of each document in the target, by its key (world.cross_tenant_check);
        master data carries none."""
        if integration == "sps-qbo":
            vendors = self.vendor_ids(world)
            return {(vendors.get(po.get("VendorRef", {}).get("value")), po.get("DocNumber")): money_of(po.get("Line"))
                    for po in qbo(world).entities("PurchaseOrder")}
        if integration == "qbo-sps":
            return {key: money_of(doc) for key, doc in inbox_documents(sps(world)) if doc is not None}
        return None

    def vendor_ids(self, world: DemoWorld) -> dict[str, str]:
        """QBO vendor Id -> partner: the file's refs and the vendors the sync created by name."""
        ids = {p.vendor_ref: pid for pid, p in self.mapping.qbo.partners.items() if p.vendor_ref}
        names = {vendor_name(pid, self.mapping).lower(): pid for pid in self.mapping.partners if pid not in ids.values()}
        for v in qbo(world).entities("Vendor"):
            if str(v.get("DisplayName", "")).lower() in names:
                ids[v["Id"]] = names[str(v["DisplayName"]).lower()]
        return ids

    def reconcile_master(self, world: DemoWorld) -> dict:
        """Every partner has one QBO vendor and every item one QBO item: by the file's Id, or
        (for those the sync handles) by DisplayName / SKU, so a second one made is a duplicate."""
        counts: Counter = Counter()
        for pid in self.vendor_ids(world).values():
            counts[("vendor", pid)] += 1
        rows = qbo(world).entities("Item")
        for x in self.mapping.items:
            ref = self.mapping.qbo.items.get(x.item_id)
            found = {r["Id"] for r in rows if r["Id"] == ref or (ref is None and r.get("Sku") == x.vendor_part)}
            if found:
                counts[("item", x.item_id)] += len(found)
        expected = {("vendor", pid) for pid in self.mapping.partners} | {("item", x.item_id) for x in self.mapping.items}
        return recon(expected, counts)
