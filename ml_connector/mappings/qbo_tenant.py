"""The optional ``qbo:`` section of a tenant mapping file: SPS partners and our items as
QuickBooks Online references (QBO Ids, which are strings).

    qbo:
      expense_account: "7"          # AccountRef for lines without an item (charges, allowances)
      ap_account: "33"              # optional APAccountRef on purchase orders
      po_number_field: "P.O. Number"  # invoice custom field holding the buyer's PO (RSX invoice/ASN)
      partners:
        ACMEDIST0001: {vendor_ref: "1", customer_ref: "5"}
        FABRIKAM0001: {vendor_name: "Fabrikam Supply"}   # onboarding: the vendor is made in QBO
      items:                        # our item id (tenant ``items``) -> QBO Item Id
        WID-100: "11"

A partner without ``vendor_ref`` (or missing from ``partners`` here) is being onboarded: the
master-data sync (flows/qbo_master_data.py) finds or creates its QBO vendor and records the
link in the ledger; :meth:`QboMapping.with_links` lays those links under this file's. The same
holds for tenant items without an entry in ``items``.

Conflict rule for cross-references (documented, never silent): this file is the authority. A
QBO item id claimed by two of our items is refused at load time; a link recorded by the sync
never overrides an entry here; an invoice line whose QBO item is linked neither here nor by the
sync is quarantined with the item named, never guessed. Field-level rules: mappings/qbo_master.py.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QboPartner(_Strict):
    vendor_ref: str | None = Field(default=None, description="QBO Vendor Id the partner's orders become purchase "
                                   "orders of; leave it out to have the master-data sync find or create it.")
    vendor_name: str | None = Field(default=None, description="DisplayName of the vendor the sync creates "
                                    "(default: the partner's name).")
    customer_ref: str | None = Field(default=None, description="QBO Customer Id whose invoices go out to the partner.")


class QboMapping(_Strict):
    expense_account: str | None = Field(default=None, description="QBO Account Id for lines without an item.")
    ap_account: str | None = None
    po_number_field: str = Field(default="P.O. Number", description="Name of the invoice custom field that holds "
                                 "the buyer's purchase order number.")
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

    def with_links(self, vendors: dict[str, str], items: dict[str, str]) -> QboMapping:
        """This mapping with links recorded by the master-data sync filled in where the file
        has none (``vendors``: partner -> QBO Vendor Id, ``items``: our item -> QBO Item Id).
        The file's own entries always win; a synced item link whose QBO Id the file already
        gives to another item is dropped (the file is the authority)."""
        if not vendors and not items:
            return self
        partners = {pid: p.model_dump() for pid, p in self.partners.items()}
        for pid, ref in vendors.items():
            entry = partners.setdefault(pid, {})
            if not entry.get("vendor_ref"):
                entry["vendor_ref"] = ref
        merged = dict(self.items)
        taken = set(merged.values())
        for ours, theirs in items.items():
            if ours not in merged and theirs not in taken:
                merged[ours] = theirs
                taken.add(theirs)
        return QboMapping.model_validate(self.model_dump() | {"partners": partners, "items": merged})
