"""The optional ``commerce:`` section of a tenant mapping file: one Adobe Commerce instance
posting into one (possibly multi-entity) Sage Intacct company.

    commerce:
      instance: https://shop.example.com
      websites:                       # website code -> website_id and Intacct entity (LOCATIONID)
        base: {website_id: 1, entity: US01}
      stores:                         # store code -> store_id, website, optional overrides
        default: {store_id: 1, website: base}
      procure: {...}                  # orders/invoices -> AP bills, B2B POs, credit memos -> AP adj.
      o2c: {...}                      # orders -> AR invoices, payments, items, shipments, AR adj.
      conflicts: {...}                # vendor/customer master rule, both ways

Routing: a document's ``store_id`` names its store, the store its website, and the website (or
the store's own ``entity``) the Intacct entity it posts in. A store not listed here is rejected
with the store id named, never posted to a default entity.

Conflict rule for the vendor/customer master (documented, never silent). Each field has one
master: Intacct for the financial fields (ids, status, currency, credit limit, terms), Commerce
for the contact fields (name, email, names, phone, address). A field outside both lists goes to
the side changed last (``updated_at`` vs ``WHENMODIFIED``), Intacct on a tie. Every field whose
values differ is reported as a conflict with its winner, and the flows write each one to the
ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

_INTEGRATION_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,59}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _integration_name(value: str) -> str:
    if not _INTEGRATION_NAME.match(value):
        raise ValueError(f"{value!r} is not an Intacct custom field integration name (A-Z, 0-9, _)")
    return value


IntegrationName = Annotated[str, AfterValidator(_integration_name)]


class CommerceWebsite(_Strict):
    website_id: int = Field(ge=0)
    entity: str = Field(min_length=1, description="Intacct entity (LOCATIONID) its documents post in.")


class CommerceStore(_Strict):
    store_id: int = Field(ge=0)
    website: str = Field(description="Website code (a key of commerce.websites).")
    entity: str | None = Field(default=None, description="Overrides the website's entity.")
    warehouse: str | None = Field(default=None, description="Overrides o2c.shipment.warehouse.")
    department: str | None = None


class ProcureSettings(_Strict):
    """Adobe Commerce -> Intacct procure: the Commerce customer is an Intacct vendor."""

    vendor_match: tuple[Literal["email", "commerce_id"], ...] = Field(default=("email", "commerce_id"), min_length=1)
    vendor_commerce_id_field: IntegrationName = Field(default="COMMERCE_CUSTOMER_ID",
                                          description="VENDOR custom field holding the Commerce customer id.")
    vendor_id_prefix: str = Field(default="VC-", max_length=8)
    create_missing_vendors: bool = True
    ap_account: str
    shipping_account: str | None = None
    tax_account: str | None = None
    discount_account: str | None = None
    department: str | None = None
    class_: str | None = Field(default=None, alias="class")
    due_days: int = Field(default=30, ge=0, le=365)
    order_bill_prefix: str = "CO-"
    invoice_bill_prefix: str = "CI-"
    po_transaction_type: str = "Purchase Order"
    po_shipping_item: str | None = Field(default=None, description="ITEMID for shipping on a PO (PO lines need items).")
    adjustment_account: str | None = Field(default=None, description="AP adjustment lines; ap_account when unset.")
    adjustment_prefix: str = "CM-"


class PaymentSettings(_Strict):
    bank_account_id: str | None = None
    undeposited_account: str | None = None
    methods: dict[str, str] = Field(default={}, description="Commerce payment.method -> Intacct paymentmethod.")
    default_method: str = "Credit Card"

    @model_validator(mode="after")
    def _one_destination(self):
        if (self.bank_account_id is None) == (self.undeposited_account is None):
            raise ValueError("give exactly one of bank_account_id and undeposited_account")
        return self


class ShipmentSettings(_Strict):
    ictransaction_type: str = "Inventory Shipper"
    warehouse: str


class O2cSettings(_Strict):
    """Adobe Commerce order to cash: the Commerce customer is an Intacct customer."""

    customer_id_attribute: str = Field(default="intacct_customer_id",
                                       description="Commerce customer attribute keeping the Intacct CUSTOMERID.")
    customer_id_prefix: str = Field(default="CC-", max_length=8)
    customer_commerce_id_field: IntegrationName = "COMMERCE_CUSTOMER_ID"
    guest_customer_id: str | None = Field(default=None, description="CUSTOMERID for guest orders; None rejects them.")
    entity_id_field: IntegrationName = Field(default="COMMERCE_ENTITY_ID",
                                 description="ARINVOICE custom field holding the Commerce order entity_id.")
    revenue_account: str
    shipping_account: str | None = None
    tax_account: str | None = None
    discount_account: str | None = None
    department: str | None = None
    class_: str | None = Field(default=None, alias="class")
    invoice_prefix: str = "CO-"
    term_name: str | None = None
    due_days: int = Field(default=30, ge=0, le=365)
    invoiceable_states: tuple[str, ...] = ("processing", "complete")
    payment: PaymentSettings
    adjustment_account: str | None = None
    adjustment_prefix: str = "CM-"
    shipment: ShipmentSettings
    item_types: dict[str, str] = {"simple": "Inventory", "virtual": "Non-Inventory", "downloadable": "Non-Inventory"}


class ConflictRule(_Strict):
    intacct_fields: tuple[str, ...] = ("vendor_id", "customer_id", "status", "currency", "credit_limit", "terms")
    commerce_fields: tuple[str, ...] = ("name", "email", "first_name", "last_name", "phone", "address")
    otherwise: Literal["newer"] = "newer"
    tie: Literal["intacct", "commerce"] = "intacct"

    @model_validator(mode="after")
    def _disjoint(self):
        both = set(self.intacct_fields) & set(self.commerce_fields)
        if both:
            raise ValueError(f"fields cannot have two masters: {', '.join(sorted(both))}")
        return self


@dataclass(frozen=True)
class StoreRoute:
    """Where a document of one Commerce store posts."""

    store_code: str
    website_code: str
    entity: str
    warehouse: str | None
    department: str | None


class CommerceSettings(_Strict):
    instance: str = Field(min_length=1, description="The Commerce instance (base URL or name).")
    websites: dict[str, CommerceWebsite] = Field(min_length=1)
    stores: dict[str, CommerceStore] = Field(min_length=1)
    procure: ProcureSettings | None = None
    o2c: O2cSettings | None = None
    conflicts: ConflictRule = ConflictRule()
    _by_store_id: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self):
        for label, ids in (("website_id", [w.website_id for w in self.websites.values()]),
                           ("store_id", [s.store_id for s in self.stores.values()])):
            if len(set(ids)) != len(ids):
                raise ValueError(f"a {label} is listed twice")
        for code, store in self.stores.items():
            if store.website not in self.websites:
                raise ValueError(f"store {code}: unknown website {store.website!r}")
        # Built here, after the checks (model_post_init would run before them).
        self._by_store_id = {
            store.store_id: StoreRoute(code, store.website, store.entity or self.websites[store.website].entity,
                                       store.warehouse, store.department)
            for code, store in self.stores.items()}
        return self

    def route(self, store_id: int) -> StoreRoute | None:
        """The route of a store id, or None when the store is not mapped."""
        return self._by_store_id.get(store_id)

    @property
    def entities(self) -> list[str]:
        return sorted({r.entity for r in self._by_store_id.values()})

