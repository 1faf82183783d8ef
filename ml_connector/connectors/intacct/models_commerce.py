"""Sage Intacct records the Adobe Commerce integrations write: parties (VENDOR, CUSTOMER), items,
purchasing, AP/AR adjustments, AR invoices and payments, inventory transactions.

Money is ``Decimal`` and is rounded to cents by the function builders, not here, so a model
keeps the amount the source document carried. Dates are ``date``: the builders render them as
``mm/dd/yyyy`` (generic functions) or ``<year><month><day>`` (legacy functions). ``custom``
maps a custom field's integration name to its value (reference §5, "Custom fields").
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from .models import ApBillLine, IntacctModel

Status = Literal["active", "inactive"]


class MailAddress(IntacctModel):
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = Field(default=None, description="ISO 3166 alpha-2, e.g. US.")


class Contact(IntacctModel):
    """The DISPLAYCONTACT of a vendor or customer."""

    print_as: str
    company_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: MailAddress | None = None


class Vendor(IntacctModel):
    """A VENDOR, written with generic ``create``/``update`` (field order does not matter there)."""

    vendor_id: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1)
    contact: Contact
    status: Status = "active"
    currency: str | None = None
    custom: dict[str, str] = {}


class Customer(IntacctModel):
    """A CUSTOMER, written with generic ``create``/``update``."""

    customer_id: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1)
    contact: Contact
    status: Status = "active"
    currency: str | None = None
    credit_limit: Decimal | None = None
    custom: dict[str, str] = {}


class Item(IntacctModel):
    """An ITEM for legacy ``create_item``: the Commerce SKU is the ITEMID."""

    item_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    item_type: str = "Inventory"
    status: Status = "active"


class PoLine(IntacctModel):
    """One ``potransitem``: PO lines need an item (unlike bill lines)."""

    item_id: str
    quantity: Decimal
    price: Decimal | None = None
    unit: str | None = None
    item_desc: str | None = None
    warehouse_id: str | None = None
    location_id: str | None = None
    department_id: str | None = None
    memo: str | None = None


class PoTransaction(IntacctModel):
    """A PODOCUMENT, created with legacy ``create_potransaction`` (reference §5.8)."""

    transaction_type: str = Field(min_length=1, description="The transaction definition, e.g. 'Purchase Order'.")
    date_created: date
    vendor_id: str
    document_no: str | None = None
    reference_no: str | None = Field(default=None, description="The buyer's PO number.")
    vendor_doc_no: str | None = None
    date_due: date | None = None
    message: str | None = None
    external_id: str | None = None
    currency: str | None = None
    custom: dict[str, str] = {}
    lines: tuple[PoLine, ...] = Field(min_length=1)


class ApAdjustment(IntacctModel):
    """An AP credit/debit memo, legacy ``create_apadjustment`` (reference §5.4).

    ``bill_no`` is how it is tied to the original bill: the XSD's ``billno`` element holds the
    bill number (our bill RECORDID). The XML API has no "apply this adjustment to that bill"
    field on create (applying credits happens when paying), so the link is this reference plus
    the ledger row of the credit memo, which names the bill's target id.
    """

    vendor_id: str
    date_created: date
    adjustment_no: str
    bill_no: str | None = None
    description: str | None = None
    external_id: str | None = None
    currency: str | None = None
    custom: dict[str, str] = {}
    lines: tuple[ApBillLine, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_sign(self):
        _check_one_sign(self.lines, "AP adjustment")
        return self

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


class ArLine(IntacctModel):
    """One ``lineitem`` of an AR invoice or AR adjustment."""

    account_no: str
    amount: Decimal
    memo: str | None = None
    location_id: str | None = None
    department_id: str | None = None
    item_id: str | None = None
    class_id: str | None = None


class NewArInvoice(IntacctModel):
    """An ARINVOICE to create with legacy ``create_invoice`` (``ArInvoice`` is the read model)."""

    customer_id: str
    date_created: date
    date_due: date | None = None
    term_name: str | None = None
    invoice_no: str
    po_number: str | None = None
    description: str | None = None
    external_id: str | None = None
    currency: str | None = None
    custom: dict[str, str] = {}
    lines: tuple[ArLine, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _due(self):
        if self.date_due is None and not self.term_name:  # reference §5.5: one of the two
            raise ValueError("an AR invoice needs date_due or term_name")
        return self

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


class ArPaymentApplication(IntacctModel):
    invoice_key: str = Field(description="RECORDNO of the AR invoice the payment pays.")
    amount: Decimal


class ArPayment(IntacctModel):
    """An AR payment, legacy ``create_arpayment``, applied to invoices by RECORDNO."""

    customer_id: str
    amount: Decimal
    bank_account_id: str | None = None
    undeposited_account: str | None = None
    ref_id: str | None = None
    date_received: date
    payment_method: str | None = None
    currency: str | None = None
    applications: tuple[ArPaymentApplication, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_destination(self):
        if (self.bank_account_id is None) == (self.undeposited_account is None):
            raise ValueError("an AR payment goes to exactly one of bank_account_id and undeposited_account")
        if sum((a.amount for a in self.applications), Decimal("0")) > self.amount:
            raise ValueError("an AR payment cannot apply more than its amount")
        return self


class ArAdjustment(IntacctModel):
    """An AR credit/debit memo, legacy ``create_aradjustment`` (negative amounts = credit memo)."""

    customer_id: str
    date_created: date
    adjustment_no: str
    invoice_no: str | None = Field(default=None, description="The AR invoice it adjusts (reference).")
    description: str | None = None
    external_id: str | None = None
    currency: str | None = None
    lines: tuple[ArLine, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_sign(self):
        _check_one_sign(self.lines, "AR adjustment")
        return self

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


class IcLine(IntacctModel):
    """One ``ictransitem``: the warehouse is required on inventory lines."""

    item_id: str
    warehouse_id: str
    quantity: Decimal
    unit: str | None = None
    cost: Decimal | None = None
    item_desc: str | None = None
    location_id: str | None = None
    department_id: str | None = None


class IcTransaction(IntacctModel):
    """An inventory transaction, legacy ``create_ictransaction`` (reference §5.10)."""

    transaction_type: str = Field(min_length=1)
    date_created: date
    document_no: str | None = None
    reference_no: str | None = None
    message: str | None = None
    external_id: str | None = None
    custom: dict[str, str] = {}
    lines: tuple[IcLine, ...] = Field(min_length=1)


def _check_one_sign(lines, what: str) -> None:
    # Reference §5.4: several lines must be all positive or all negative.
    signs = {line.amount > 0 for line in lines if line.amount != 0}
    if len(signs) > 1:
        raise ValueError(f"{what} lines must be all positive or all negative")
