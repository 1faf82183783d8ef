"""Fill the emulators with a tenant's world and a seeded volume of documents.

Intacct gets the tenant's vendors, customers, GL accounts and dimensions, plus AR invoices
to send out; SPS gets generated RSX documents in ``out/``. What was seeded, and what each
document should become, is returned so the demo and the tests can reconcile against it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ..mappings.sps_to_intacct import bill_number
from ..mappings.tenant import TenantMapping
from .generator import generate
from .intacct import IntacctEmulator
from .sps import SpsEmulator

UNMAPPED_CUSTOMER = "C-NOPARTNER"


@dataclass
class Seeded:
    """What the sandbox holds, and what a correct run must produce from it."""

    expected_bills: set[tuple[str, str]] = field(default_factory=set)  # (VENDORID, RECORDID)
    expected_invoices: set[tuple[str, str]] = field(default_factory=set)  # (partner, invoice no.)
    bad_inbound: dict[str, str] = field(default_factory=dict)  # filename -> label
    unmapped_invoices: set[str] = field(default_factory=set)
    orders: set[tuple[str, str]] = field(default_factory=set)  # (partner, PO no.) expected to post


def seed_intacct_master(intacct: IntacctEmulator, mapping: TenantMapping) -> None:
    """Vendors, customers, accounts and dimensions the tenant file refers to."""
    for partner in mapping.partners.values():
        intacct.add_vendor(partner.vendor_id, partner.name)
        if partner.customer_id:
            intacct.add_customer(partner.customer_id, partner.name)
        for account in partner.gl_accounts.model_dump().values():
            intacct.add_gl_account(account)
        dims = partner.dimensions
        for kind, value in (("department", dims.department), ("location", dims.location), ("class", dims.class_)):
            if value:
                intacct.add_dimension(kind, value)
    for item in mapping.items:
        if item.gl_account:
            intacct.add_gl_account(item.gl_account)
    intacct.add_customer(UNMAPPED_CUSTOMER, "Customer without a trading partner")


def seed_ar_invoices(intacct: IntacctEmulator, mapping: TenantMapping, count: int, seed: int, seeded: Seeded) -> None:
    """AR invoices for mapped customers (to send) and a few for an unmapped one (to quarantine)."""
    rng = random.Random(seed)
    customers = [(pid, p.customer_id) for pid, p in mapping.partners.items() if p.customer_id]
    base = datetime(2026, 10, 1, tzinfo=UTC)
    for n in range(count):
        unmapped = n % 50 == 49
        partner, customer = (None, UNMAPPED_CUSTOMER) if unmapped else customers[n % len(customers)]
        record_id = f"AR-{10000 + n}"
        lines = []
        for _ in range(rng.randint(1, 4)):
            item = rng.choice(mapping.items)
            qty = Decimal(rng.randint(1, 24))
            price = item.unit_cost or Decimal("9.99")
            lines.append({"item_id": item.item_id, "quantity": qty, "unit_price": price, "amount": qty * price})
        when = base + timedelta(minutes=7 * n)
        intacct.add_ar_invoice(record_id, customer, lines, when.date(), when_modified=when, po_number=f"CPO-{n}")
        if unmapped:
            seeded.unmapped_invoices.add(record_id)
        else:
            seeded.expected_invoices.add((partner, record_id))


def seed_sps_documents(sps: SpsEmulator, mapping: TenantMapping, count: int, seed: int, bad_fraction: float,
                       seeded: Seeded, catalogue=None) -> None:
    """Generated RSX documents in SPS's out/ folder, with their expected outcomes."""
    for doc in generate(count, seed=seed, catalogue=catalogue, bad_fraction=bad_fraction):
        sps.put_out(doc.filename, doc.content)
        if doc.expect == "post":
            vendor = mapping.partners[doc.partner_id].vendor_id
            seeded.expected_bills.add((vendor, bill_number(doc.doc_type, doc.number)))
            if doc.doc_type == "order":
                seeded.orders.add((doc.partner_id, doc.number))
        else:
            seeded.bad_inbound[doc.filename] = doc.expect
