"""Demo part: Adobe Commerce -> Sage Intacct procure (``commerce-intacct-ap``), tenant ``demo-commerce``
(``demo-commerce-k`` in the demo's world k).

The Commerce store and the Intacct company are shared with the order-to-cash part (same tenant,
so the same ``demo-commerce-*`` blocks): :func:`adobe` and :func:`intacct` make them on first use,
seeded once; each part then adds what it needs.

* Commerce (``sandbox/adobe/seed.py``): retail and B2B orders, a few guests, invoices, credit
  memos, canceled orders and five deliberately bad orders; in world k every product costs
  ``DemoWorld.price`` more (:func:`seed_store`), so every amount differs from world 1's.
* Intacct: a multi-entity company (US01, EU01) with the procure accounts and departments, the
  catalogue as items (purchase order lines need them), vendors already there for some
  customers (matched by email, or by the Commerce id in the custom field, one with another name:
  a conflict the vendor master records and resolves) and for half the guests' emails.
* Half the order events arrive as signed webhooks at the webhook app before the first run;
  the poll finds the rest.
"""

from __future__ import annotations

from collections import Counter

from ...mappings.tenant import load_tenant, tenant_path
from ...sandbox.adobe import AdobeEmulator
from ...sandbox.adobe.seed import AdobeSeeded, seed_adobe
from ...sandbox.intacct import IntacctEmulator
from ..sandboxes import RSA_WEBHOOKS
from ..world import DemoWorld, RunSpec, recon

TENANT = "demo-commerce"
CUSTOM_FIELD = "COMMERCE_CUSTOMER_ID"
# What a correct run makes of the seeded bad orders (sandbox/adobe/seed.py labels them all
# "quarantine"; the issue asks for forbidden XML characters to be stripped, and an AP bill
# names a SKU only in a line memo, so an unknown SKU stops a purchase order only).
POSTS_ANYWAY = ("bad:forbidden-xml-char",)


def adobe(world: DemoWorld) -> AdobeEmulator:
    """The demo's Commerce store (made and seeded on first use, shared by the Commerce parts)."""

    def make() -> AdobeEmulator:
        emulator = AdobeEmulator(faults=world.fault_plan(40), admin_token_ttl=max(world.short_ttl, 60.0),
                                 **world.identity("adobe"))
        with emulator.lock:
            emulator.seeded = seed_store(world, emulator.store)
        return emulator

    return world.emulator("adobe", make)  # type: ignore[return-value]


def seed_store(world: DemoWorld, store) -> AdobeSeeded:
    """``seed_adobe`` with the world's seed, at the world's prices: the seeder draws no random
    number from a price, so every world has the same customers, orders, invoices, shipments and
    credit memos under the same numbers, and in world k each product (hence each line, total,
    payment and refund) costs more. Hold the emulator's lock."""
    orders = max(world.documents // 4, 20)
    if world.index == 1:
        return seed_adobe(store, orders=orders, seed=world.seed)
    add_product = store.add_product
    store.add_product = lambda sku, name, price, **kw: add_product(sku, name, world.price(price), **kw)
    try:
        return seed_adobe(store, orders=orders, seed=world.seed)
    finally:
        del store.add_product  # the store's own method again


def adobe_seeded(world: DemoWorld) -> AdobeSeeded:
    return adobe(world).seeded  # type: ignore[attr-defined]


def intacct(world: DemoWorld) -> IntacctEmulator:
    """The demo's multi-entity Intacct company for the Commerce tenant (shared, like :func:`adobe`)."""

    def make() -> IntacctEmulator:
        emulator = IntacctEmulator(faults=world.fault_plan(41), session_ttl=world.short_ttl,
                                   **world.identity("intacct"))
        setup_commerce_company(emulator)
        return emulator

    return world.emulator("intacct-commerce", make)  # type: ignore[return-value]


def commerce_sandboxes(world: DemoWorld) -> tuple[AdobeEmulator, IntacctEmulator]:
    """The Commerce store and the Intacct company every ``demo-commerce`` part shares."""
    return adobe(world), intacct(world)


def setup_commerce_company(emulator: IntacctEmulator) -> None:
    """What both Commerce integrations need in Intacct: entities US01/EU01, warehouses, the
    custom fields the tenant file names."""
    for entity in ("US01", "EU01"):
        emulator.add_entity(entity)
    emulator.add_warehouse("WH-US", "US01")
    emulator.add_warehouse("WH-EU", "EU01")
    for object_name in ("CUSTOMER", "VENDOR"):
        emulator.add_custom_field(object_name, CUSTOM_FIELD)
    emulator.add_custom_field("ARINVOICE", "COMMERCE_ENTITY_ID")


def seed_procure(emulator: IntacctEmulator, store, mapping, *, existing_vendors: bool = True) -> None:
    """The procure side of the company: accounts, departments, items, and (``existing_vendors``)
    some vendors already there, matched rather than created."""
    procure = mapping.commerce.procure
    for account in {procure.ap_account, procure.shipping_account, procure.tax_account, procure.discount_account,
                    procure.adjustment_account} - {None}:
        emulator.add_gl_account(account)
    for department in {procure.department, *(s.department for s in mapping.commerce.stores.values())} - {None}:
        emulator.add_dimension("department", department)
    # Purchase order lines name items: the SKUs ordered on purchase orders must be items (the
    # order-to-cash part, seeded first, makes most of them with opening stock; adding an
    # existing item is a no-op), and the freight item the tenant file names.
    catalogue = {p["sku"]: p["name"] for p in store.rows("product")}
    for order in store.rows("order"):
        if (order.get("payment") or {}).get("po_number"):
            for sku in {line["sku"] for line in order["items"]} & set(catalogue):
                emulator.add_item(sku, catalogue[sku], "Inventory")
    if procure.po_shipping_item:
        emulator.add_item(procure.po_shipping_item, "Freight", "Non-Inventory")
    if existing_vendors:
        seed_vendors(emulator, store)


def seed_vendors(emulator: IntacctEmulator, store) -> None:
    """Vendors Intacct already has: for six customers (by email, or by the Commerce id under
    another name) and for half the guests' emails."""
    customers = sorted(store.rows("customer"), key=lambda c: c["id"])
    for n, customer in enumerate(customers[:6]):
        vendor_id = f"V-{1000 + n}"
        if n % 2 == 0:  # known by email (the oldest vendor with that email wins)
            emulator.add_vendor(vendor_id, f"{customer['firstname']} {customer['lastname']}", email=customer["email"])
        else:  # known by the Commerce id in the custom field, under another name: a conflict
            emulator.add_vendor(vendor_id, f"{customer['lastname'].upper()} (old name)")
            with emulator.lock:
                emulator.store.find("VENDOR", vendor_id)[CUSTOM_FIELD] = str(customer["id"])
    guests = sorted({o["customer_email"] for o in store.rows("order")
                     if o.get("customer_is_guest") and o.get("customer_email")})
    for n, email in enumerate(guests[::2]):
        emulator.add_vendor(f"V-G{n:03d}", f"Guest supplier {email}", email=email)


class CommerceIntacctApPart:
    tenant_base = TENANT

    def __init__(self) -> None:
        self.mapping = load_tenant(tenant_path(TENANT))
        self._delivered = False

    def seed(self, world: DemoWorld) -> None:
        self.mapping = load_tenant(tenant_path(world.tenant_name(TENANT)))
        with adobe(world).lock:
            seed_procure(intacct(world), adobe(world).store, self.mapping)

    def save_blocks(self, world: DemoWorld) -> None:
        world.sandboxes.save_blocks(world.tenant_name(TENANT), ["adobe", "intacct-commerce"], RSA_WEBHOOKS)

    def deliver_webhooks(self, world: DemoWorld) -> None:
        """Half the order events as signed Commerce webhooks, through the webhook app."""
        from starlette.testclient import TestClient

        from ...webhooks.app import create_app

        events = [e for e in adobe(world).events() if e.kind == "order"][::2]
        with TestClient(create_app(world.tenant_name(TENANT), trigger=None, adobe={"trigger": None})) as client:
            adobe(world).send_webhooks("http://testserver/webhooks/adobe", events, http=client)

    def runs(self, world: DemoWorld) -> list[RunSpec]:
        from ...flows.commerce_ap_vendor_master import commerce_ap_vendor_master
        from ...flows.commerce_to_intacct_ap import commerce_to_intacct_ap

        def documents(tenant: str, return_state: bool = True):
            if not self._delivered:
                self._delivered = True
                self.deliver_webhooks(world)
            return commerce_to_intacct_ap(tenant=tenant, return_state=return_state)

        name = world.tenant_name(TENANT)

        def notifications_taken() -> bool:  # every stored webhook notification handled (the poll reads the rest)
            from ...runtime.tenant import tenant as tenant_resources

            return not tenant_resources(name).ledger.status_counts("commerce-intacct-ap:webhook").get("received")

        return [RunSpec("commerce-intacct-ap", documents, notifications_taken, tenant=name),
                RunSpec("commerce-ap-vendors", commerce_ap_vendor_master, tenant=name)]

    def reconcile(self, world: DemoWorld, integration: str) -> dict:
        if integration == "commerce-ap-vendors":
            return self.reconcile_vendors(world)
        present = Counter(key for key, _ in target_documents(intacct(world)))
        return recon(self.expected(world), present)

    def contents(self, world: DemoWorld, integration: str) -> dict | None:
        """Each bill's, purchase order's and adjustment's total, by its key (world.cross_tenant_check)."""
        if integration != "commerce-intacct-ap":
            return None
        return {key: ("total", str(total)) for key, total in target_documents(intacct(world))}

    def expected(self, world: DemoWorld) -> set[tuple[str, str]]:
        """What must be in Intacct, from the seed's labels and the rules (module docstring)."""
        procure, seeded, store = self.mapping.commerce.procure, adobe_seeded(world), adobe(world).store
        with adobe(world).lock:
            orders = {o["entity_id"]: o for o in store.rows("order")}
            invoices, memos = store.rows("invoice"), store.rows("creditmemo")
        guests_with_vendor = {v.get("DISPLAYCONTACT.EMAIL1") for v in intacct(world).vendors()
                              if str(v.get("VENDORID", "")).startswith("V-G")}

        def posts(order: dict) -> bool:
            label = seeded.orders.get(order["increment_id"])
            ok = label == "post" or label in POSTS_ANYWAY or (label == "bad:unknown-sku" and not _po(order))
            guest_ok = not order.get("customer_is_guest") or order.get("customer_email") in guests_with_vendor
            return ok and guest_ok and order["state"] != "canceled"

        def _po(order: dict) -> bool:
            return bool((order.get("payment") or {}).get("po_number"))

        keys = set()
        for order in orders.values():
            if posts(order):
                inc = order["increment_id"]
                keys.add(("PODOCUMENT", inc) if _po(order) else ("APBILL", f"{procure.order_bill_prefix}{inc}"))
        keys |= {("APBILL", f"{procure.invoice_bill_prefix}{i['increment_id']}") for i in invoices
                 if posts(orders[i["order_id"]]) and _po(orders[i["order_id"]])}
        keys |= {("APADJUSTMENT", f"{procure.adjustment_prefix}{m['increment_id']}") for m in memos
                 if posts(orders[m["order_id"]])}
        return keys

    def reconcile_vendors(self, world: DemoWorld) -> dict:
        """Every customer account whose documents posted has exactly one vendor: by its Commerce
        id in the custom field, or (for a vendor matched by email) by that email."""
        from ...runtime.tenant import tenant as tenant_resources
        from ...tasks.commerce_ap_vendors import MASTER

        ledger = tenant_resources(world.tenant_name(TENANT)).ledger
        links = {r.natural_key: r.target_id for r in ledger.documents(MASTER, status="posted", doc_type="vendor")}
        vendors = intacct(world).vendors()
        with adobe(world).lock:
            emails = {str(c["id"]): c["email"].lower() for c in adobe(world).store.rows("customer")}
        present: Counter = Counter()
        for customer_id in links:
            email = emails.get(customer_id, "")
            same = {v["VENDORID"] for v in vendors if v.get(CUSTOM_FIELD) == customer_id
                    or (email and str(v.get("DISPLAYCONTACT.EMAIL1", "")).lower() == email)}
            if same:
                present[("vendor", customer_id)] += len(same)
        expected = {("vendor", cid) for cid in links}
        return {**recon(expected, present), "conflicts": len(ledger.documents(MASTER, doc_type="conflict"))}


def target_documents(company: IntacctEmulator) -> list[tuple[tuple[str, str], object]]:
    """What the payables flow writes in Intacct, keyed (object, number), with each one's total."""
    found = [(("APBILL", b["RECORDID"]), b["total"]) for b in company.bills()]
    found += [(("PODOCUMENT", p["DOCNO"]), p["total"]) for p in company.po_documents()]
    return found + [(("APADJUSTMENT", a["RECORDID"]), a["total"]) for a in company.ap_adjustments()]

