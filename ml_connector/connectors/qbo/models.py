"""QuickBooks Online entities as pydantic models with Decimal money (reference §B.3).

Fields are snake_case in Python and QBO's PascalCase on the wire (``doc_number`` <->
``DocNumber``); ``to_qbo()`` gives the wire form. Every model keeps the fields it does not
declare (``extra="allow"``): QBO sends dozens, and a *full* update must send every writable field
back or QBO clears it (reference §B.4).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from .errors import fault_error, fault_errors

Money = Decimal


class QboModel(BaseModel):
    """Base of every QBO shape: PascalCase aliases, unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="allow", frozen=True)

    def to_qbo(self) -> dict[str, Any]:
        """The wire form (aliases, no None values). Money stays ``Decimal``; the client encodes it."""
        return self.model_dump(by_alias=True, exclude_none=True)


class Ref(QboModel):
    """A reference to another object: ``{"value": "56", "name": "Acme"}``."""

    value: str = Field(alias="value")
    name: str | None = Field(default=None, alias="name")


class MetaData(QboModel):
    """Create and last-update times, in the company's UTC offset."""
    create_time: datetime | None = None
    last_updated_time: datetime | None = None


class QboObject(QboModel):
    """Any QBO entity: identity and optimistic-concurrency fields."""

    id: str | None = None
    sync_token: str | None = None
    meta_data: MetaData | None = None
    domain: str | None = Field(default=None, alias="domain")
    sparse: bool | None = Field(default=None, alias="sparse")
    # CDC marks deleted objects with status "Deleted" and sends only Id and MetaData.
    status: str | None = Field(default=None, alias="status")

    @property
    def deleted(self) -> bool:
        """Whether CDC reported this object as deleted (only Id and MetaData are set)."""
        return self.status == "Deleted"


class Address(QboModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    country_sub_division_code: str | None = None
    postal_code: str | None = None
    country: str | None = None


class EmailAddress(QboModel):
    address: str | None = None


class CustomField(QboModel):
    definition_id: str | None = None
    name: str | None = None
    type: str | None = None
    string_value: str | None = None


class ItemBasedExpenseLineDetail(QboModel):
    item_ref: Ref
    qty: Decimal | None = None
    unit_price: Decimal | None = None
    billable_status: str | None = None
    customer_ref: Ref | None = None
    class_ref: Ref | None = None
    tax_code_ref: Ref | None = None


class AccountBasedExpenseLineDetail(QboModel):
    account_ref: Ref
    billable_status: str | None = None
    customer_ref: Ref | None = None
    class_ref: Ref | None = None
    tax_code_ref: Ref | None = None


class ExpenseLine(QboModel):
    """A PurchaseOrder (or Bill) line: item-based or account-based."""

    id: str | None = None
    line_num: int | None = None
    description: str | None = None
    amount: Money
    detail_type: str
    item_based_expense_line_detail: ItemBasedExpenseLineDetail | None = None
    account_based_expense_line_detail: AccountBasedExpenseLineDetail | None = None


class LinkedTxn(QboModel):
    """A link to another transaction: on a PurchaseOrder, the bills that received it."""

    txn_id: str
    txn_type: str
    txn_line_id: str | None = None


class PurchaseOrder(QboObject):
    """A purchase order: a non-posting transaction to a vendor (reference §B.3). QBO keeps
    ``linked_txn`` itself (a bill linked to the PO); ``po_status`` is Open or Closed."""
    vendor_ref: Ref | None = None
    ap_account_ref: Ref | None = Field(default=None, alias="APAccountRef")
    doc_number: str | None = None
    txn_date: date | None = None
    due_date: date | None = None
    po_status: str | None = Field(default=None, alias="POStatus")
    total_amt: Money | None = None
    memo: str | None = None
    private_note: str | None = None
    ship_addr: Address | None = None
    vendor_addr: Address | None = None
    po_email: EmailAddress | None = Field(default=None, alias="POEmail")
    custom_field: list[CustomField] = []
    line: list[ExpenseLine] = []
    linked_txn: list[LinkedTxn] | None = None  # None: not sent (QBO's to keep, never ours to write)

    @property
    def received_by(self) -> list[str]:
        """The Ids of the bills linked to this PO (what received it)."""
        return [t.txn_id for t in self.linked_txn or [] if t.txn_type == "Bill"]


class SalesItemLineDetail(QboModel):
    item_ref: Ref | None = None
    qty: Decimal | None = None
    unit_price: Decimal | None = None
    service_date: date | None = None
    tax_code_ref: Ref | None = None


class SalesLine(QboModel):
    """An Invoice line. QBO appends a ``SubTotalLineDetail`` line to what it returns."""

    id: str | None = None
    line_num: int | None = None
    description: str | None = None
    amount: Money | None = None
    detail_type: str
    sales_item_line_detail: SalesItemLineDetail | None = None


class Invoice(QboObject):
    """A sales invoice to a customer; ``balance`` is what is still owed.

    QBO has no shipment entity: shipping is recorded on the sales form itself, as
    ``ShipDate``, ``TrackingNum``, ``ShipMethodRef`` (the carrier) and ``ShipAddr``. An
    invoice with a ``ShipDate`` is therefore also a shipment confirmation (see
    mappings/qbo_to_sps.py)."""
    customer_ref: Ref | None = None
    doc_number: str | None = None
    txn_date: date | None = None
    due_date: date | None = None
    total_amt: Money | None = None
    balance: Money | None = None
    bill_email: EmailAddress | None = None
    ship_addr: Address | None = None
    bill_addr: Address | None = None
    customer_memo: dict | None = None
    ship_date: date | None = None
    tracking_num: str | None = None
    ship_method_ref: Ref | None = None
    custom_field: list[CustomField] = []
    line: list[SalesLine] = []

    @property
    def item_lines(self) -> list[SalesLine]:
        """The lines that sell something (not subtotals, discounts or descriptions)."""
        return [line for line in self.line if line.detail_type == "SalesItemLineDetail"]


class _Party(QboObject):
    display_name: str | None = None
    company_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    primary_email_addr: EmailAddress | None = None
    bill_addr: Address | None = None
    active: bool | None = None
    balance: Money | None = None


class Vendor(_Party):
    """A vendor; ``display_name`` is unique across vendors, customers and employees."""
    pass


class Customer(_Party):
    """A customer; ``display_name`` is unique across vendors, customers and employees."""
    ship_addr: Address | None = None


class Item(QboObject):
    """A product or service; lists are deactivated (``active=False``), never deleted."""
    name: str | None = None
    sku: str | None = None
    type: str | None = None
    unit_price: Money | None = None
    purchase_cost: Money | None = None
    income_account_ref: Ref | None = None
    expense_account_ref: Ref | None = None
    track_qty_on_hand: bool | None = None
    qty_on_hand: Decimal | None = None
    active: bool | None = None


class Account(QboObject):
    """A chart-of-accounts entry."""
    name: str | None = None
    account_type: str | None = None
    account_sub_type: str | None = None
    active: bool | None = None


ENTITY_MODELS: dict[str, type[QboObject]] = {
    "PurchaseOrder": PurchaseOrder, "Invoice": Invoice, "Vendor": Vendor,
    "Customer": Customer, "Item": Item, "Account": Account,
}


def parse_entity(entity: str, data: dict) -> QboObject:
    """``data`` as the model of ``entity`` (the generic :class:`QboObject` for the others)."""
    return ENTITY_MODELS.get(entity, QboObject).model_validate(data)


class BatchItemResponse(BaseModel):
    """One item of a batch answer: the object, a query page, or the item's own Fault."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    b_id: str
    entity: str | None = None
    object: QboObject | None = None
    query_response: dict | None = None
    fault: dict | None = None

    @property
    def ok(self) -> bool:
        """Whether the item succeeded (it has no Fault)."""
        return self.fault is None

    def error(self, operation: str = "batch"):
        """The typed error of a failed item (``StaleObject``, ``RejectedError``...), else None."""
        return None if self.fault is None else fault_error(self.fault, operation=operation)

    @property
    def messages(self) -> list[str]:
        """The Fault's messages, for an operator."""
        return [e["Message"] for e in fault_errors(self.fault)] if self.fault else []
