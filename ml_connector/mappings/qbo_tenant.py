"""The optional ``qbo:`` section of a tenant mapping file: SPS partners and our items as
QuickBooks Online references (QBO Ids, which are strings).

    qbo:
      expense_account: "7"          # AccountRef for lines without an item (charges, allowances)
      ap_account: "33"              # optional APAccountRef on purchase orders
      partners:
        ACMEDIST0001: {vendor_ref: "1", customer_ref: "5"}
      items:                        # our item id (tenant ``items``) -> QBO Item Id
        WID-100: "11"

Conflict rule for item cross-references (documented, never silent): this file is the
authority. A QBO item id claimed by two of our items is refused at load time; an invoice line
whose QBO item is not listed here is quarantined with the item named, never guessed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QboPartner(_Strict):
    vendor_ref: str = Field(description="QBO Vendor Id the partner's orders become purchase orders of.")
    customer_ref: str | None = Field(default=None, description="QBO Customer Id whose invoices go out to the partner.")


class QboMapping(_Strict):
    expense_account: str | None = Field(default=None, description="QBO Account Id for lines without an item.")
    ap_account: str | None = None
    partners: dict[str, QboPartner] = {}
    items: dict[str, str] = {}
    _by_customer: dict = PrivateAttr(default_factory=dict)
    _by_qbo_item: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self):
        for attr, label in (("customer_ref", "customer"), ("vendor_ref", "vendor")):
            seen: dict[str, str] = {}
            for pid, p in self.partners.items():
                ref = getattr(p, attr)
                if ref and attr == "customer_ref" and ref in seen:
                    raise ValueError(f"QBO {label} {ref} is claimed by partners {seen[ref]} and {pid}")
                if ref:
                    seen[ref] = pid
        seen_items: dict[str, str] = {}
        for ours, theirs in self.items.items():
            if theirs in seen_items:
                raise ValueError(f"QBO item {theirs} is claimed by items {seen_items[theirs]} and {ours}")
            seen_items[theirs] = ours
        return self

    def model_post_init(self, _context) -> None:
        self._by_customer = {p.customer_ref: pid for pid, p in self.partners.items() if p.customer_ref}
        self._by_qbo_item = {v: k for k, v in self.items.items()}

    def partner_for_customer(self, customer_ref: str) -> str | None:
        return self._by_customer.get(customer_ref)

    def item_for_qbo(self, qbo_item: str) -> str | None:
        return self._by_qbo_item.get(qbo_item)
