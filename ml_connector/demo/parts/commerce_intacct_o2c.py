"""Demo part: Adobe Commerce -> Sage Intacct, order to cash (tenant ``demo-commerce``, ``demo-commerce-k``
in the demo's world k).

The Commerce store and the multi-entity Intacct company (US01, EU01) are the ones the payables
part uses (``commerce_sandboxes``); this part adds what order to cash needs in Intacct: revenue
accounts, warehouses per entity with opening stock of the catalogue, the custom fields, the guest
customer, customers that exist on both sides already (linked, one with a different name: a
conflict the rule decides), customers created in Intacct only (pushed to Commerce, one without an
email: quarantined), credit limits on the B2B companies' admins, and new products that are not
items yet (created by the flow).

Reconciliation (:func:`check_o2c`) reads both sandboxes: every invoiced order has exactly one AR
invoice in its store's entity, every captured invoice one payment applied to it, every shipment
one inventory transaction, every credit memo one AR adjustment, every product one item; on-hand
quantities equal opening stock minus what shipped; each customer's balance equals Commerce's
(invoiced - paid - refunded); nothing at the top level.
"""

from __future__ import annotations

from decimal import Decimal

from ...connectors.intacct import functions_parties
from ...connectors.intacct.auth import IntacctConfig
from ...connectors.intacct.client import IntacctClient
from ...connectors.intacct.models_commerce import Contact, Customer
from ...mappings.commerce_tenant import CommerceSettings
from ...mappings.tenant import load_tenant, tenant_path
from ...sandbox.adobe import AdobeEmulator
from ...sandbox.intacct import IntacctEmulator
from ..world import DemoWorld, RunSpec, recon
from .commerce_intacct_ap import commerce_sandboxes

TENANT = "demo-commerce"
INTEGRATION = "commerce-intacct-o2c"
OPENING_STOCK = 100_000
NEW_PRODUCTS = (("MLC-NEW-1", "Cedar Planter", "simple"), ("MLC-NEW-2", "Linen Apron", "simple"),
                ("MLC-GIFT", "Gift card", "virtual"))
INTACCT_ONLY = (("C-9001", "Harbor Foods", "orders@harborfoods.example"), ("C-9002", "Walk-in Wholesale", None))


def sandboxes(world: DemoWorld) -> tuple[AdobeEmulator, IntacctEmulator]:
    """The Commerce store and Intacct company shared with the payables part (which owns the pair)."""
    adobe, intacct = commerce_sandboxes(world)[:2]
    return adobe, intacct


def intacct_client(emulator: IntacctEmulator) -> IntacctClient:
    return IntacctClient(IntacctConfig(**emulator.credentials()))


def seed_company(intacct: IntacctEmulator, commerce: CommerceSettings) -> None:
    """Entities, accounts, departments, warehouses (each in its stores' entity), custom fields."""
    o2c = commerce.o2c
    for entity in commerce.entities:
        intacct.add_entity(entity)
    for account in {o2c.revenue_account, o2c.shipping_account, o2c.tax_account, o2c.discount_account,
                    o2c.adjustment_account, o2c.payment.undeposited_account or o2c.payment.bank_account_id}:
        if account:
            intacct.add_gl_account(account)
    for department in {o2c.department, *(s.department for s in commerce.stores.values())}:
        if department:
            intacct.add_dimension("department", department)
    for store in commerce.stores.values():
        route = commerce.route(store.store_id)
        intacct.add_warehouse(route.warehouse or o2c.shipment.warehouse, route.entity)
    intacct.add_custom_field("ARINVOICE", o2c.entity_id_field)
    intacct.add_custom_field("CUSTOMER", o2c.customer_commerce_id_field)
    if o2c.guest_customer_id:
        intacct.add_customer(o2c.guest_customer_id, "Web guests")


def warehouses(commerce: CommerceSettings) -> list[str]:
    return sorted({commerce.route(s.store_id).warehouse or commerce.o2c.shipment.warehouse
                   for s in commerce.stores.values()})


def seed_catalogue(adobe: AdobeEmulator, intacct: IntacctEmulator, commerce: CommerceSettings,
                   stock: int = OPENING_STOCK) -> dict[tuple[str, str], Decimal]:
    """Items with opening stock for the sellable catalogue; new products left for the flow to
    create. Returns the opening (sku, warehouse) quantities."""
    opening = {}
    with adobe.lock:
        products = [dict(p) for p in adobe.store.rows("product")]
        for sku, name, type_id in NEW_PRODUCTS:
            if not any(p["sku"] == sku for p in products):
                adobe.store.add_product(sku, name, "19.00", type_id=type_id)
    for p in products:
        if commerce.o2c.item_types.get(p["type_id"]) == "Inventory":
            quantities = {wh: stock for wh in warehouses(commerce)}
            intacct.add_item(p["sku"], p["name"], on_hand=quantities)
            opening.update({(p["sku"], wh): Decimal(stock) for wh in quantities})
    return opening


def seed_customers(adobe: AdobeEmulator, intacct: IntacctEmulator, commerce: CommerceSettings) -> None:
    """Customers on both sides already, Intacct-only customers, and company admins' credit limits."""
    o2c = commerce.o2c
    with adobe.lock:
        people = [dict(c) for c in adobe.store.rows("customer")]
        companies = {c["id"]: dict(c) for c in adobe.store.rows("company")}
        credits = {c["company_id"]: dict(c) for c in adobe.store.rows("credit")}
    kept = [c for c in people if any(a["attribute_code"] == o2c.customer_id_attribute and a.get("value")
                                     for a in c.get("custom_attributes") or [])]
    for n, c in enumerate(kept):
        cid = next(a["value"] for a in c["custom_attributes"] if a["attribute_code"] == o2c.customer_id_attribute)
        name = f"{c['firstname']} {c['lastname']}"
        intacct.add_customer(cid, name.upper() if n == 0 else name, email=c["email"])  # the first: a conflict
    for cid, name, email in INTACCT_ONLY:
        intacct.add_customer(cid, name, email=email)
    admins = []
    for company in companies.values():
        admin = next((c for c in people if c["id"] == company.get("super_user_id")), None)
        if admin is not None:
            limit = Decimal(str(credits[company["id"]]["credit_limit"])) + Decimal("2500.00")
            name = f"{admin['firstname']} {admin['lastname']}"
            contact = Contact(print_as=name, company_name=company["company_name"], first_name=admin["firstname"],
                              last_name=admin["lastname"], email=admin["email"])
            admins.append(Customer(customer_id=f"{o2c.customer_id_prefix}{admin['id']}", name=name,
                                   contact=contact, credit_limit=limit))
    if admins:
        with intacct_client(intacct) as client:  # the finance team set them up in Intacct
            client.post_functions([functions_parties.customer_create_function(f"seed-{a.customer_id}", a)
                                   for a in admins])


class CommerceIntacctO2cPart:
    """Order to cash on the shared Commerce and Intacct sandboxes."""

    tenant_base = TENANT

    def __init__(self) -> None:
        self.mapping = load_tenant(tenant_path(TENANT))
        self.opening: dict[tuple[str, str], Decimal] = {}

    def seed(self, world: DemoWorld) -> None:
        self.mapping = load_tenant(tenant_path(world.tenant_name(TENANT)))
        adobe, intacct = sandboxes(world)
        commerce = self.mapping.commerce
        seed_company(intacct, commerce)
        self.opening = seed_catalogue(adobe, intacct, commerce)
        seed_customers(adobe, intacct, commerce)

    def save_blocks(self, world: DemoWorld) -> None:
        world.sandboxes.save_blocks(world.tenant_name(TENANT), ["adobe", "intacct-commerce"])

    def runs(self, world: DemoWorld) -> list[RunSpec]:
        from ...flows.commerce_to_intacct_o2c import commerce_to_intacct_o2c
        from ...runtime.tenant import tenant as tenant_resources
        from ...tasks.commerce_o2c import FOLLOWUPS

        def written_back() -> bool:  # every write-back to Commerce (order comments, customer ids) done
            waiting = tenant_resources(world.tenant_name(TENANT)).ledger.status_counts(FOLLOWUPS)
            return not waiting.get("received") and not waiting.get("posting")

        return [RunSpec(INTEGRATION, commerce_to_intacct_o2c, written_back, tenant=world.tenant_name(TENANT))]

    def reconcile(self, world: DemoWorld, integration: str) -> dict:
        from ...ops.reconcile_commerce_o2c import check_o2c
        from ...runtime.tenant import tenant as tenant_resources

        adobe, intacct = sandboxes(world)
        expected, present, extra = check_o2c(adobe, intacct, self.mapping.commerce, self.opening,
                                             tenant_resources(world.tenant_name(TENANT)).ledger)
        return {**recon(expected, present), **extra}

    def contents(self, world: DemoWorld, integration: str) -> dict:
        """Each AR invoice's, payment's and adjustment's total, by the key ``check_o2c`` gives it
        (world.cross_tenant_check); items, customers and inventory moves carry no money."""
        intacct = sandboxes(world)[1]
        found = {("invoice", r["RECORDID"], r["entity"]): r["total"] for r in intacct.ar_invoices()}
        found |= {("payment", r["DOCNUMBER"], r["entity"]): r["total"] for r in intacct.ar_payments()}
        found |= {("adjustment", r["RECORDID"], r["entity"]): r["total"] for r in intacct.ar_adjustments()}
        return {key: ("total", str(total)) for key, total in found.items()}


__all__ = ["CommerceIntacctO2cPart", "sandboxes", "seed_catalogue", "seed_company", "seed_customers"]
