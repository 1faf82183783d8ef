"""The tenant mapping file: trading partners, cost centers, GL accounts and item cross-references.

A tenant file is YAML validated by these models; a mistake in it (an unknown route, an item
claimed by two cross-references) fails at load time with the path of the bad value, not in
the middle of a run. See ``tenants/demo.yaml`` for a complete example.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from .sterling_config import SterlingSettings
from .qbo_tenant import QboMapping
from .commerce_tenant import CommerceSettings

DocType = Literal["order", "invoice", "shipment"]
# Where an inbound SPS document goes. "skip" records it in the ledger as skipped, on purpose.
Route = Literal["apbill", "skip"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimensions(Strict):
    """The cost center: Intacct has no such dimension, so it is department/location/class."""

    department: str | None = None
    location: str | None = None
    class_: str | None = Field(default=None, alias="class")


class GlAccounts(Strict):
    order: str
    invoice: str
    shipment: str
    charges: str
    allowances: str


class PartnerMapping(Strict):
    """One SPS trading partner: who it is in Intacct and where its documents post."""

    name: str
    vendor_id: str = Field(description="Intacct VENDORID that inbound documents bill against.")
    customer_id: str | None = Field(default=None, description="Intacct CUSTOMERID whose AR invoices go out to this partner.")
    dimensions: Dimensions = Dimensions()
    gl_accounts: GlAccounts
    routes: dict[DocType, Route] = {"order": "apbill", "invoice": "apbill", "shipment": "apbill"}
    due_days: int = Field(default=30, ge=0, le=365)
    currency: str = "USD"


class ItemXref(Strict):
    """One item, known by any of the identifiers a partner may send."""

    item_id: str
    buyer_part: str | None = None
    vendor_part: str | None = None
    upc: str | None = None
    gl_account: str | None = Field(default=None, description="Overrides the partner's account for this item.")
    unit_cost: Decimal | None = Field(default=None, description="Price used when a shipment line carries none.")

    @model_validator(mode="after")
    def _has_an_identifier(self):
        if not (self.buyer_part or self.vendor_part or self.upc):
            raise ValueError(f"item {self.item_id}: give at least one of buyer_part, vendor_part, upc")
        return self


class OutboundSettings(Strict):
    send_orderacks: bool = True
    invoice_format: Literal["xml", "json"] = "xml"


class TenantMapping(Strict):
    tenant: str
    partners: dict[str, PartnerMapping]
    items: list[ItemXref] = []
    outbound: OutboundSettings = OutboundSettings()
    sterling: SterlingSettings | None = None  # Intacct -> Sterling X12 (mappings/sterling_config.py)
    qbo: QboMapping | None = None  # SPS <-> QuickBooks Online references (mappings/qbo_tenant.py)
    commerce: CommerceSettings | None = None  # Adobe Commerce <-> Intacct (mappings/commerce_tenant.py)
    _item_index: dict = PrivateAttr(default_factory=dict)
    _by_customer: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_identifiers(self):
        for field in ("buyer_part", "vendor_part", "upc"):
            seen: dict[str, str] = {}
            for item in self.items:
                value = getattr(item, field)
                if value and value in seen and seen[value] != item.item_id:
                    raise ValueError(f"{field} {value!r} is claimed by items {seen[value]} and {item.item_id}")
                if value:
                    seen[value] = item.item_id
        return self

    def model_post_init(self, _context) -> None:
        index: dict[tuple[str, str], ItemXref] = {}
        for item in self.items:
            for field in ("buyer_part", "vendor_part", "upc"):
                if getattr(item, field):
                    index[(field, getattr(item, field))] = item
        self._item_index = index
        self._by_customer = {p.customer_id: pid for pid, p in self.partners.items() if p.customer_id}

    def find_item(self, *, buyer_part: str | None, vendor_part: str | None, upc: str | None) -> ItemXref | None:
        """The cross-reference by buyer part number, then vendor part number, then UPC."""
        for field, value in (("buyer_part", buyer_part), ("vendor_part", vendor_part), ("upc", upc)):
            if value and (field, value) in self._item_index:
                return self._item_index[(field, value)]
        return None

    def partner_for_customer(self, customer_id: str) -> str | None:
        return self._by_customer.get(customer_id)


def load_tenant(path: str | Path) -> TenantMapping:
    """Load and validate a tenant mapping file."""
    data = yaml.safe_load(Path(path).read_text())
    return TenantMapping.model_validate(data)


def tenant_path(tenant: str, directory: str | Path | None = None) -> Path:
    """Where a tenant's mapping file lives: ``$ML_CONNECTOR_TENANTS`` or ./tenants, then the
    examples shipped in the repository."""
    import os

    candidates = [Path(directory)] if directory else []
    if os.environ.get("ML_CONNECTOR_TENANTS"):
        candidates.append(Path(os.environ["ML_CONNECTOR_TENANTS"]))
    candidates += [Path.cwd() / "tenants", Path(__file__).resolve().parents[2] / "tenants"]
    for folder in candidates:
        path = folder / f"{tenant}.yaml"
        if path.exists():
            return path
    raise FileNotFoundError(f"no mapping file for tenant {tenant!r} (looked in {', '.join(map(str, candidates))})")
