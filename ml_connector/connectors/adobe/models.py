"""Adobe Commerce entities as pydantic models: typed on what the mappings read, tolerant of
the rest (reference §A.6).

Every model keeps undeclared fields (``extra="allow"``): Magento sends many, extensions add
more, and a customer written back must carry what was read. Money is ``Decimal``; timestamps
are Magento's zone-less UTC strings read as aware ``datetime``. Field lists marked [U] in the
sheet are typed loosely (optional) so a store that leaves one out still parses.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from .search import TIMESTAMP_FORMAT, parse_ts

Money = Decimal
Timestamp = Annotated[
    datetime, BeforeValidator(parse_ts),
    PlainSerializer(lambda v: v.strftime(TIMESTAMP_FORMAT), return_type=str, when_used="json-unless-none"),
]


class MagentoModel(BaseModel):
    """Base of every Commerce shape: snake_case wire names as they are, unknown fields kept."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready wire form (no None values; Decimal kept for the client's encoder)."""
        return self.model_dump(exclude_none=True, mode="python")


class CustomAttribute(MagentoModel):
    attribute_code: str
    value: Any = None


class Address(MagentoModel):
    """An order address (billing, or shipping inside a shipping assignment)."""

    address_type: str | None = None
    entity_id: int | None = None
    firstname: str | None = None
    lastname: str | None = None
    company: str | None = None
    email: str | None = None
    street: list[str] = []
    city: str | None = None
    region: str | None = None
    region_code: str | None = None
    region_id: int | None = None
    postcode: str | None = None
    country_id: str | None = None
    telephone: str | None = None


class OrderItem(MagentoModel):
    """An order line. Configurable and bundle products list the parent *and* its children."""

    item_id: int
    order_id: int | None = None
    parent_item_id: int | None = None
    sku: str
    name: str | None = None
    product_id: int | None = None
    product_type: str | None = None
    qty_ordered: Decimal = Decimal(0)
    qty_invoiced: Decimal | None = None
    qty_shipped: Decimal | None = None
    qty_refunded: Decimal | None = None
    qty_canceled: Decimal | None = None
    price: Money = Decimal(0)
    base_price: Money | None = None
    original_price: Money | None = None
    row_total: Money = Decimal(0)
    base_row_total: Money | None = None
    row_total_incl_tax: Money | None = None
    tax_amount: Money | None = None
    tax_percent: Decimal | None = None
    discount_amount: Money | None = None


class OrderPayment(MagentoModel):
    """``payment``: ``po_number`` is set when the order was paid by purchase order (B2B)."""

    method: str | None = None
    po_number: str | None = None
    amount_ordered: Money | None = None
    base_amount_ordered: Money | None = None
    amount_paid: Money | None = None  # set only once an invoice is captured [U]
    base_amount_paid: Money | None = None
    additional_information: list[Any] = []


class Shipping(MagentoModel):
    address: Address | None = None
    method: str | None = None
    total: dict[str, Any] | None = None


class ShippingAssignment(MagentoModel):
    shipping: Shipping | None = None
    items: list[Any] = []


class OrderExtension(MagentoModel):
    shipping_assignments: list[ShippingAssignment] = []


class StatusHistory(MagentoModel):
    """One order comment (``status_histories``)."""

    comment: str | None = None
    status: str | None = None
    created_at: Timestamp | None = None
    entity_id: int | None = None
    is_customer_notified: int | None = None
    is_visible_on_front: int | None = None


class Order(MagentoModel):
    """A sales order (``GET /V1/orders``)."""

    entity_id: int
    increment_id: str
    state: str | None = None
    status: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    customer_id: int | None = None  # absent on guest orders
    customer_is_guest: bool | None = None
    customer_email: str | None = None
    customer_firstname: str | None = None
    customer_lastname: str | None = None
    customer_group_id: int | None = None
    store_id: int | None = None
    base_currency_code: str | None = None
    order_currency_code: str | None = None
    subtotal: Money | None = None
    base_subtotal: Money | None = None
    shipping_amount: Money | None = None
    tax_amount: Money | None = None
    discount_amount: Money | None = None
    grand_total: Money
    base_grand_total: Money | None = None
    total_due: Money | None = None
    total_paid: Money | None = None
    total_invoiced: Money | None = None
    total_refunded: Money | None = None
    items: list[OrderItem] = []
    billing_address: Address | None = None
    payment: OrderPayment | None = None
    status_histories: list[StatusHistory] = []
    extension_attributes: OrderExtension | None = None

    @property
    def key(self) -> str:
        return str(self.entity_id)

    @property
    def po_number(self) -> str | None:
        """The B2B purchase-order number, when the order was paid by purchase order."""
        return self.payment.po_number if self.payment and self.payment.po_number else None

    @property
    def billable_items(self) -> list[OrderItem]:
        """Top-level lines: children of configurable/bundle parents are left out (§A.6.1)."""
        return [item for item in self.items if item.parent_item_id is None]

    @property
    def shipping_address(self) -> Address | None:
        """The first shipping assignment's address (orders keep it in extension_attributes)."""
        for assignment in (self.extension_attributes.shipping_assignments if self.extension_attributes else []):
            if assignment.shipping and assignment.shipping.address:
                return assignment.shipping.address
        return None

    def has_comment(self, text: str) -> bool:
        """Whether a comment with exactly ``text`` is already on the order."""
        return any((h.comment or "").strip() == text.strip() for h in self.status_histories)


class DocumentItem(MagentoModel):
    """A line of an invoice, credit memo or shipment, pointing back at its order line."""

    entity_id: int | None = None
    parent_id: int | None = None
    order_item_id: int | None = None
    product_id: int | None = None
    sku: str | None = None
    name: str | None = None
    qty: Decimal = Decimal(0)
    price: Money | None = None
    base_price: Money | None = None
    row_total: Money | None = None
    base_row_total: Money | None = None
    tax_amount: Money | None = None
    discount_amount: Money | None = None


class _SalesDocument(MagentoModel):
    entity_id: int
    order_id: int
    increment_id: str | None = None
    store_id: int | None = None
    state: int | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    order_currency_code: str | None = None
    base_currency_code: str | None = None
    subtotal: Money | None = None
    shipping_amount: Money | None = None
    tax_amount: Money | None = None
    discount_amount: Money | None = None
    grand_total: Money | None = None
    base_grand_total: Money | None = None
    items: list[DocumentItem] = []
    comments: list[Any] = []

    @property
    def key(self) -> str:
        return str(self.entity_id)


class Invoice(_SalesDocument):
    """An invoice (``state``: 1 open, 2 paid, 3 canceled [U])."""

    total_qty: Decimal | None = None
    billing_address_id: int | None = None
    transaction_id: str | None = None

    @property
    def paid(self) -> bool:
        return self.state == 2


class CreditMemo(_SalesDocument):
    """A credit memo (``state``: 1 open, 2 refunded, 3 canceled)."""

    invoice_id: int | None = None
    transaction_id: str | None = None
    creditmemo_status: int | None = None
    adjustment: Money | None = None
    adjustment_positive: Money | None = None
    adjustment_negative: Money | None = None


class ShipmentTrack(MagentoModel):
    track_number: str | None = None
    carrier_code: str | None = None
    title: str | None = None


class Shipment(_SalesDocument):
    """A shipment with its tracking numbers."""

    total_qty: Decimal | None = None
    tracks: list[ShipmentTrack] = []


class CustomerAddress(MagentoModel):
    id: int | None = None
    firstname: str | None = None
    lastname: str | None = None
    company: str | None = None
    street: list[str] = []
    city: str | None = None
    region: dict[str, Any] | None = None
    region_id: int | None = None
    postcode: str | None = None
    country_id: str | None = None
    telephone: str | None = None
    default_billing: bool | None = None
    default_shipping: bool | None = None


def _attribute(attributes: list[CustomAttribute], code: str) -> Any:
    return next((a.value for a in attributes if a.attribute_code == code), None)


class Customer(MagentoModel):
    """A customer account; ``id`` is None only on one not created yet."""

    id: int | None = None
    email: str
    firstname: str | None = None
    lastname: str | None = None
    group_id: int | None = None
    store_id: int | None = None
    website_id: int | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    addresses: list[CustomerAddress] = []
    custom_attributes: list[CustomAttribute] = []
    extension_attributes: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return str(self.id)

    def attribute(self, code: str) -> Any:
        """The value of custom attribute ``code``, or None."""
        return _attribute(self.custom_attributes, code)

    def with_attribute(self, code: str, value: Any) -> Customer:
        """A copy with custom attribute ``code`` set to ``value`` (added if absent)."""
        others = [a for a in self.custom_attributes if a.attribute_code != code]
        return self.model_copy(update={"custom_attributes": [*others, CustomAttribute(attribute_code=code, value=value)]})

    @property
    def company_id(self) -> int | None:
        """The B2B company the customer belongs to, if any."""
        company = (self.extension_attributes or {}).get("company_attributes") or {}
        value = company.get("company_id") if isinstance(company, dict) else None
        return int(value) if value not in (None, "", 0, "0") else None


class Company(MagentoModel):
    """A B2B company (``GET /V1/company/``)."""

    id: int
    company_name: str
    legal_name: str | None = None
    company_email: str | None = None
    status: int | None = None
    vat_tax_id: str | None = None
    reseller_id: str | None = None
    street: list[str] = []
    city: str | None = None
    country_id: str | None = None
    region: str | None = None
    region_id: int | None = None
    postcode: str | None = None
    telephone: str | None = None
    customer_group_id: int | None = None
    sales_representative_id: int | None = None
    super_user_id: int | None = None
    extension_attributes: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return str(self.id)


class CompanyCredit(MagentoModel):
    """A company's credit line; ``available_limit`` is computed by Commerce, never written."""

    id: int
    company_id: int
    credit_limit: Money | None = None
    balance: Money = Decimal(0)
    currency_code: str | None = None
    exceed_limit: bool = False
    available_limit: Money | None = None

    @property
    def key(self) -> str:
        return str(self.id)


class Product(MagentoModel):
    """A catalog product; ``sku`` is its key on the REST API."""

    id: int | None = None
    sku: str
    name: str | None = None
    attribute_set_id: int | None = None
    price: Money | None = None
    status: int | None = None
    visibility: int | None = None
    type_id: str | None = None
    weight: Decimal | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    custom_attributes: list[CustomAttribute] = []
    extension_attributes: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return str(self.id) if self.id is not None else self.sku

    def attribute(self, code: str) -> Any:
        """The value of custom attribute ``code`` (``description``, ``cost``...), or None."""
        return _attribute(self.custom_attributes, code)
