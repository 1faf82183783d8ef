"""Seeded generator of an Adobe Commerce world: stores, catalogue, customers, B2B companies, orders.

The same seed gives the same documents (ids, increment ids, amounts, timestamps). The world:
- two websites: ``base`` (store ``default``, id 1, USD, retail) and ``wholesale`` (stores
  ``wholesale_us``, id 2, USD, and ``wholesale_ca``, id 3, CAD, B2B); issue 5 routes each
  store/website to an Intacct entity;
- simple products ``MLC-1000``... and configurable tees (``MLC-TEE`` with sizes), whose order
  lines are a parent and a child row;
- retail customers (a few already carrying the ``intacct_customer_id`` custom attribute),
  guests, and B2B companies with credit limits whose buyers pay by purchase order
  (``purchaseorder``) or on account (``companycredit``, drawing on the company credit), both
  with ``payment.po_number``;
- orders left new, canceled, invoiced (captured, or only authorised: an open invoice), shipped
  with a tracking number, and refunded in full or in part (credit memos).
With ``bad=True`` a few more orders are deliberately bad, each labelled with what a correct flow
must do with it (quarantine it, with a one-line reason):

    bad:no-customer-email     the order has no customer_email (nor billing email)
    bad:non-numeric-amount    grand_total is the string "1O4.50" (a letter O)
    bad:forbidden-xml-char    a vertical tab (U+000B, forbidden in XML 1.0) in the customer's name
    bad:unknown-store         store_id 9: no such store, so no entity to route to
    bad:unknown-sku           a line whose SKU is not in the catalogue
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from . import b2b
from .store import TIME_FORMAT, AdobeStore

BAD_LABELS = ("bad:no-customer-email", "bad:non-numeric-amount", "bad:forbidden-xml-char", "bad:unknown-store",
              "bad:unknown-sku")
START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
SPAN = timedelta(days=90)
_FIRST = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Femi", "Grace", "Hiro", "Ines", "Jon", "Kara", "Luis", "Mei", "Nils")
_LAST = ("Alvarez", "Brooks", "Chen", "Diallo", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Khan", "Lopez")
_WORDS = ("Steel", "Cedar", "Copper", "Linen", "Harbor", "Summit", "Prairie", "Granite", "Willow", "Atlas")
_THINGS = ("Bracket", "Valve", "Lamp", "Mug", "Notebook", "Cable", "Hinge", "Filter", "Gasket", "Panel")
_COMPANIES = (("Northwind Traders", "5000.00"), ("Contoso Supply", "25000.00"), ("Fabrikam Industrial", "100000.00"),
              ("Tailspin Parts", "15000.00"), ("Woodgrove Retail", "40000.00"))


@dataclass
class AdobeSeeded:
    """What was seeded, and what a correct run must make of it."""

    stores: dict[str, dict] = field(default_factory=dict)  # store code -> {store_id, website_id, website_code, currency}
    orders: dict[str, str] = field(default_factory=dict)  # increment_id -> "post" or a bad: label
    po_orders: dict[str, str] = field(default_factory=dict)  # increment_id -> payment.po_number
    invoices: dict[str, str] = field(default_factory=dict)  # invoice increment_id -> order increment_id (paid)
    open_invoices: dict[str, str] = field(default_factory=dict)  # authorised, not captured (state 1)
    creditmemos: dict[str, str] = field(default_factory=dict)  # credit memo increment_id -> order increment_id
    shipments: dict[str, str] = field(default_factory=dict)  # shipment increment_id -> order increment_id
    customers: dict[str, int] = field(default_factory=dict)  # email -> customer id
    companies: dict[str, Decimal] = field(default_factory=dict)  # company name -> credit limit
    skus: list[str] = field(default_factory=list)

    @property
    def bad(self) -> dict[str, str]:
        return {inc: label for inc, label in self.orders.items() if label != "post"}

    @property
    def good_orders(self) -> set[str]:
        return {inc for inc, label in self.orders.items() if label == "post"}


def _stamp(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def _catalogue(store: AdobeStore, rng: random.Random, count: int, when: str, seeded: AdobeSeeded) -> list[dict]:
    """Order-line templates: simple products and configurable tees (parent + child)."""
    lines = []
    for n in range(count):
        name = f"{_WORDS[n % len(_WORDS)]} {_THINGS[(n * 3) % len(_THINGS)]}"
        price = Decimal(rng.randint(300, 25000)) / 100
        product = store.add_product(f"MLC-{1000 + n}", name, price, website_ids=[1, 2], created_at=when)
        seeded.skus.append(product["sku"])
        lines.append({"sku": product["sku"], "name": name, "product_id": product["id"], "price": product["price"]})
    tee = store.add_product("MLC-TEE", "Logo Tee", "24.00", type_id="configurable", website_ids=[1, 2], created_at=when)
    for size in ("S", "M", "L"):
        child = store.add_product(f"MLC-TEE-{size}", f"Logo Tee-{size}", "24.00", website_ids=[1, 2], created_at=when)
        seeded.skus.append(child["sku"])
        lines.append({"sku": child["sku"], "name": "Logo Tee", "product_id": tee["id"], "price": tee["price"],
                      "type": "configurable", "child_product_id": child["id"], "child_name": child["name"]})
    seeded.skus.append(tee["sku"])
    return lines


def _people(store: AdobeStore, rng: random.Random, count: int, companies: int, when: str,
            seeded: AdobeSeeded) -> tuple[list[dict], list[tuple[dict, dict]]]:
    retail, buyers = [], []
    for n in range(count):
        first, last = _FIRST[n % len(_FIRST)], _LAST[(n * 5) % len(_LAST)]
        custom = [{"attribute_code": "intacct_customer_id", "value": f"C-{2000 + n}"}] if n % 6 == 0 else []
        body = {"email": f"{first}.{last}.{n}@example.com".lower(), "firstname": first, "lastname": last,
                "custom_attributes": custom}
        customer = store.create_customer(body, website_id=1, store_id=1, created_at=when)
        seeded.customers[customer["email"]] = customer["id"]
        retail.append(customer)
    for n, (name, limit) in enumerate(_COMPANIES[:companies]):
        domain = name.split()[0].lower()
        company = b2b.add_company(store, name, f"ap@{domain}.example", credit_limit=limit,
                                  currency="CAD" if n == 2 else "USD")
        seeded.companies[name] = Decimal(limit)
        for m in range(2):
            first, last = _FIRST[(n + m + 3) % len(_FIRST)], _LAST[(n * 2 + m) % len(_LAST)]
            body = {"email": f"buyer{m}@{domain}.example", "firstname": first, "lastname": last, "group_id": 2}
            buyer = store.create_customer(body, website_id=2, store_id=3 if n == 2 else 2, created_at=when,
                                          company_id=company["id"])
            if m == 0:
                company["super_user_id"] = buyer["id"]
            seeded.customers[buyer["email"]] = buyer["id"]
            buyers.append((buyer, company))
    return retail, buyers


def _lines(rng: random.Random, catalogue: list[dict]) -> list[dict]:
    picked = rng.sample(catalogue, k=rng.randint(1, min(4, len(catalogue))))
    return [{**line, "qty": rng.randint(1, 6), "tax_percent": rng.choice((0, 0, "8.25"))} for line in picked]


def _order(store: AdobeStore, rng: random.Random, n: int, when: str, catalogue: list[dict], retail: list[dict],
           buyers: list[tuple[dict, dict]], seeded: AdobeSeeded) -> dict:
    lines = _lines(rng, catalogue)
    if buyers and n % 20 >= 11:  # about 45% B2B
        buyer, company = buyers[rng.randrange(len(buyers))]
        method = rng.choice(("purchaseorder", "purchaseorder", "companycredit", "checkmo"))
        po = f"PO-{company['id']}{n:05d}" if method != "checkmo" else None
        order = store.place_order(store_id=buyer["store_id"], lines=lines, customer=buyer, method=method,
                                  po_number=po, created_at=when, company=company)
        if method == "companycredit":
            _on_account(store, company, order)
        if po:
            seeded.po_orders[order["increment_id"]] = po
        return order
    if n % 10 == 3:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        guest = {"email": f"guest{n}@example.net", "firstname": first, "lastname": last}
        return store.place_order(store_id=1, lines=lines, guest=guest, method="checkmo", created_at=when)
    method = rng.choice(("checkmo", "banktransfer", "braintree", "braintree"))
    return store.place_order(store_id=1, lines=lines, customer=rng.choice(retail), method=method, created_at=when)


def _on_account(store: AdobeStore, company: dict, order: dict) -> None:
    """Charge the company's credit; when it is used up, the company has paid its statement first
    (a Reimbursed operation), as a buyer's AP team does, so credit keeps flowing at any volume."""
    credit = b2b.credit_of_company(store, company["id"])
    if credit["available_limit"] < order["grand_total"] and credit["balance"] < 0:
        b2b.change_balance(store, credit["id"], {"value": -credit["balance"], "currency": credit["currency_code"],
                                                 "operationType": 4, "comment": "statement paid"}, increase=True)
    if credit["available_limit"] < order["grand_total"]:
        order["payment"]["method"] = "purchaseorder"  # checkout refuses payment on account over the limit
        return
    b2b.purchase_on_account(store, company, order)


def _lifecycle(store: AdobeStore, rng: random.Random, order: dict, placed: datetime, seeded: AdobeSeeded) -> None:
    roll, inc = rng.random(), order["increment_id"]
    if roll < 0.15:
        return  # still new / pending
    if roll < 0.20:
        store.cancel(order["entity_id"], _stamp(placed + timedelta(hours=2)))
        return
    authorised_only = order["payment"]["method"] == "braintree" and rng.random() < 0.3
    invoice = store.invoice(order["entity_id"], capture=not authorised_only, created_at=_stamp(placed + timedelta(hours=1)))
    (seeded.open_invoices if authorised_only else seeded.invoices)[invoice["increment_id"]] = inc
    if rng.random() < 0.7:
        shipment = store.ship(order["entity_id"], tracks=[{"track_number": f"1Z{rng.randrange(10**9):09d}"}],
                              created_at=_stamp(placed + timedelta(days=1)))
        seeded.shipments[shipment["increment_id"]] = inc
        if not authorised_only and rng.random() < 0.15:
            first = order["items"][0]
            items = None if rng.random() < 0.5 else {first["item_id"]: 1}
            memo = store.refund(order["entity_id"], items=items, invoice_id=invoice["entity_id"],
                                created_at=_stamp(placed + timedelta(days=5)))
            seeded.creditmemos[memo["increment_id"]] = inc


def _spoil(order: dict, label: str) -> None:
    """Make one placed order bad in the way ``label`` says (what a broken extension or import leaves)."""
    if label == "bad:no-customer-email":
        order["customer_email"] = order["billing_address"]["email"] = None
    elif label == "bad:non-numeric-amount":
        order["grand_total"] = order["base_grand_total"] = "1O4.50"
    elif label == "bad:forbidden-xml-char":
        order["customer_firstname"] = order["billing_address"]["firstname"] = "Ann\x0bMarie"
    elif label == "bad:unknown-store":
        order["store_id"], order["store_name"] = 9, None
    elif label == "bad:unknown-sku":
        order["items"][0].update(sku="DISCONTINUED-9999", product_id=99999)


def seed_adobe(store: AdobeStore, *, orders: int = 60, customers: int = 12, companies: int = 3, products: int = 10,
               seed: int = 7, bad: bool = True) -> AdobeSeeded:
    """Fill ``store`` (hold the emulator's lock) and return what a correct run must produce."""
    rng, seeded = random.Random(seed), AdobeSeeded()
    store.add_website(2, "wholesale", "Wholesale")
    store.add_store(2, "wholesale_us", "Wholesale US", 2, "USD")
    store.add_store(3, "wholesale_ca", "Wholesale Canada", 2, "CAD")
    for s in store.stores.values():
        seeded.stores[s["code"]] = {"store_id": s["id"], "website_id": s["website_id"],
                                    "website_code": store.websites[s["website_id"]]["code"], "currency": s["currency"]}
    opened = _stamp(START - timedelta(days=30))
    catalogue = _catalogue(store, rng, products, opened, seeded)
    retail, buyers = _people(store, rng, max(customers, 1), min(companies, len(_COMPANIES)), opened, seeded)
    labels = list(BAD_LABELS) if bad else []
    total = orders + len(labels)
    step = SPAN / max(total, 1)
    for n in range(total):
        placed = START + step * n
        order = _order(store, rng, n, _stamp(placed), catalogue, retail, buyers, seeded)
        if n >= orders:
            label = labels[n - orders]
            _spoil(order, label)
            seeded.orders[order["increment_id"]] = label
            seeded.po_orders.pop(order["increment_id"], None)  # po_orders: the POs that should post
            continue
        seeded.orders[order["increment_id"]] = "post"
        _lifecycle(store, rng, order, placed, seeded)
    return seeded
