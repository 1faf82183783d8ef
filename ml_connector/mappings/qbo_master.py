"""Vendors and items between the tenant mapping file and QuickBooks Online: the plan. Pure: no I/O.

The master-data sync (tasks/qbo_master.py, flow ``qbo-master-data``) reads QBO's vendors and
items, the links it recorded in the ledger before, and the tenant file, and this module says
what to do per trading partner and per item: nothing (aligned), link to an object QBO already
has, create one, update one, or record a conflict.

**Which object is ours (the link).** The tenant file first (``qbo.partners.<id>.vendor_ref``,
``qbo.items``); then the link the sync recorded in the ledger; then a match in QBO (a vendor by
DisplayName, an item by Sku = our vendor part number, then by Name = our item id), adopted and
recorded, so an item someone created in QBO comes our way; only then a new object, created
with the document's own ``requestid``.

**Which side is master, per field.**

======================  =============  ===================================================
field                   master         what the sync does
======================  =============  ===================================================
vendor ↔ partner link   tenant file    file > ledger link > DisplayName match > create
vendor DisplayName,     QBO            set once at creation (``vendor_name`` or the
address, terms, email                  partner's name), never written again
item ↔ our item link    tenant file    file > ledger link > Sku/Name match > create
item Sku                tenant file    ``vendor_part``: partners' EDI lines carry it
item PurchaseCost       tenant file    ``unit_cost``, when the file gives one
item Name, Type,        QBO            set once at creation, never written again
accounts, prices
Active (both)           QBO            never reactivated by us
======================  =============  ===================================================

**Conflicts, never silent.** A field the file masters that differs in QBO is written to QBO
(sparse update, current SyncToken) only if QBO's copy has not changed since our last write
or confirmation of it: its ``MetaData.LastUpdatedTime`` is not newer than the sync time the
ledger holds. Otherwise the newer change is QBO's, made by a person after us, and it is not
overwritten: the difference is recorded in the ledger as a conflict (status failed, class
``conflict``) naming the field, both values and QBO's time, and stays open until one side is
aligned; the run that finds them equal again closes it (skipped, ``resolved``). QBO's
LastUpdatedTime is per object, not per field, so any edit there after our last write counts.
A linked vendor or item that is inactive or gone in QBO is a conflict too (its documents would
be refused), as is a name match that is inactive (we never reactivate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from ..connectors.qbo.models import Item, QboObject, Vendor
from .qbo_tenant import QboMapping
from .tenant import ItemXref, TenantMapping

Kind = Literal["vendor", "item"]
Op = Literal["ok", "link", "create", "update", "conflict"]


@dataclass(frozen=True)
class Link:
    """What the ledger remembers of one synced object: its QBO Id and when we last wrote or
    confirmed it (timezone-aware)."""

    qbo_id: str
    synced_at: datetime | None = None


@dataclass(frozen=True)
class Action:
    """One thing to do for a partner's vendor or an item."""

    kind: Kind
    key: str  # partner id or our item id
    op: Op
    qbo_id: str | None = None
    body: dict = field(default_factory=dict)  # create: the new object; update: Id, SyncToken, changed fields
    reason: str | None = None  # conflict: one line for the operator
    source: str = "file"  # where the link came from: file, ledger, match, new

    def payload(self) -> bytes:
        """What the ledger stores for this action (the desired state, or the conflict's values)."""
        return json.dumps({"op": self.op, "qbo_id": self.qbo_id, "body": self.body, "reason": self.reason},
                          sort_keys=True, default=str).encode()


def _norm(name: str | None) -> str:
    return " ".join((name or "").split()).lower()


def vendor_name(pid: str, tenant: TenantMapping) -> str:
    """The DisplayName a new partner's vendor gets. QBO refuses ':' in names (reference §B.3)."""
    qp = tenant.qbo.partners.get(pid) if tenant.qbo else None
    name = (qp.vendor_name if qp else None) or tenant.partners[pid].name
    return " ".join(name.replace(":", " -").split())[:100]


def partners_without_vendor(tenant: TenantMapping, links: dict[str, Link]) -> list[str]:
    """Partners with no vendor in the file nor in the ledger: the ones to onboard."""
    qbo: QboMapping = tenant.qbo  # type: ignore[assignment]
    return [pid for pid in tenant.partners
            if not ((qbo.partners.get(pid) and qbo.partners[pid].vendor_ref) or pid in links)]


def plan_vendors(tenant: TenantMapping, links: dict[str, Link], vendors: list[Vendor],
                 only: list[str] | None = None) -> list[Action]:
    """One action per trading partner (or per partner in ``only``)."""
    qbo: QboMapping = tenant.qbo  # type: ignore[assignment]
    by_id = {v.id: v for v in vendors if v.id}
    by_name = {_norm(v.display_name): v for v in vendors if v.display_name}
    out = []
    for pid in only if only is not None else list(tenant.partners):
        qp = qbo.partners.get(pid)
        ref, source = (qp.vendor_ref, "file") if qp and qp.vendor_ref else (
            (links[pid].qbo_id, "ledger") if pid in links else (None, "new"))
        if ref is not None:
            out.append(_check_linked("vendor", pid, ref, by_id.get(ref), source))
            continue
        name = vendor_name(pid, tenant)
        found = by_name.get(_norm(name))
        if found is not None and found.active is False:
            out.append(Action("vendor", pid, "conflict", found.id, reason=(
                f"partner {pid}: the QBO vendor named {name!r} (Id {found.id}) is inactive; reactivate it in QBO "
                "or set another vendor_ref (we never reactivate)")))
        elif found is not None:
            out.append(Action("vendor", pid, "link", found.id, source="match"))
        else:
            out.append(Action("vendor", pid, "create", body={"DisplayName": name,
                                                            "CompanyName": tenant.partners[pid].name}))
    return out


def plan_items(tenant: TenantMapping, links: dict[str, Link], items: list[Item]) -> list[Action]:
    """One action per tenant item, plus a conflict next to any link whose owned fields differ."""
    qbo: QboMapping = tenant.qbo  # type: ignore[assignment]
    by_id = {i.id: i for i in items if i.id}
    by_sku = {i.sku: i for i in sorted(items, key=lambda i: (len(i.id or ""), i.id or "")) if i.sku}
    by_name = {_norm(i.name): i for i in items if i.name}
    out: list[Action] = []
    for x in tenant.items:
        ref, source = (qbo.items[x.item_id], "file") if x.item_id in qbo.items else (
            (links[x.item_id].qbo_id, "ledger") if x.item_id in links else (None, "new"))
        if ref is not None:
            current = by_id.get(ref)
            checked = _check_linked("item", x.item_id, ref, current, source)
            if checked.op != "ok" or current is None:
                out.append(checked)
                continue
            out.append(_align(x, current, links.get(x.item_id), source))
            continue
        found = (by_sku.get(x.vendor_part) if x.vendor_part else None) or by_name.get(_norm(x.item_id))
        if found is not None and found.active is False:
            out.append(Action("item", x.item_id, "conflict", found.id, reason=(
                f"item {x.item_id}: the matching QBO item {found.name!r} (Id {found.id}) is inactive; reactivate "
                "it in QBO or link another in qbo.items (we never reactivate)")))
        elif found is not None:
            out.append(Action("item", x.item_id, "link", found.id, source="match"))
            diffs = _diffs(x, found)
            if diffs:  # adopted, but someone else made it: its values are not ours to overwrite yet
                out.append(_conflict(x.item_id, found, diffs, "was created in QBO by someone else"))
        else:
            out.append(Action("item", x.item_id, "create", body=_new_item(x, qbo)))
    return out


def _check_linked(kind: Kind, key: str, ref: str, current: QboObject | None, source: str) -> Action:
    label = "partner" if kind == "vendor" else "item"
    if current is None:
        return Action(kind, key, "conflict", ref, reason=(
            f"{label} {key}: QBO {kind} {ref} (from the {source}) does not exist in QBO; fix the link or restore it"))
    if getattr(current, "active", None) is False:
        return Action(kind, key, "conflict", ref, reason=(
            f"{label} {key}: QBO {kind} {ref} (from the {source}) is inactive in QBO, so documents using it would "
            "be refused; reactivate it or link another (we never reactivate)"))
    return Action(kind, key, "ok", ref, source=source)


def _owned(x: ItemXref) -> dict[str, object]:
    """The item fields the tenant file masters, in QBO's names."""
    out: dict[str, object] = {}
    if x.vendor_part:
        out["Sku"] = x.vendor_part
    if x.unit_cost is not None:
        out["PurchaseCost"] = x.unit_cost
    return out


def _same(ours: object, theirs: object) -> bool:
    if isinstance(ours, Decimal):
        return theirs is not None and Decimal(str(theirs)) == ours
    return (ours or None) == (theirs or None)


def _diffs(x: ItemXref, current: Item) -> dict[str, tuple[object, object]]:
    values = {"Sku": current.sku, "PurchaseCost": current.purchase_cost}
    return {f: (v, values[f]) for f, v in _owned(x).items() if not _same(v, values[f])}


def _align(x: ItemXref, current: Item, link: Link | None, source: str) -> Action:
    diffs = _diffs(x, current)
    if not diffs:
        return Action("item", x.item_id, "ok", current.id, source=source)
    changed = current.meta_data.last_updated_time if current.meta_data else None
    synced = link.synced_at if link else None
    if synced is not None and changed is not None and changed <= synced:
        body = {"Id": current.id, "SyncToken": current.sync_token, **{f: v for f, (v, _) in diffs.items()}}
        return Action("item", x.item_id, "update", current.id, body=body, source=source)
    why = "changed in QBO after our last sync" if synced is not None else "differs in QBO and was never synced by us"
    return _conflict(x.item_id, current, diffs, why)


def _conflict(key: str, current: Item, diffs: dict[str, tuple[object, object]], why: str) -> Action:
    changed = current.meta_data.last_updated_time if current.meta_data else None
    fields = "; ".join(f"{f}: tenant file {ours!r}, QBO {theirs!r}" for f, (ours, theirs) in sorted(diffs.items()))
    when = f" at {changed.isoformat()}" if changed else ""
    return Action("item", key, "conflict", current.id, body={f: [str(a), str(b)] for f, (a, b) in diffs.items()},
                  reason=(f"item {key} (QBO {current.id}) {why}{when}: {fields}. The newer QBO edit is kept; align "
                          "the tenant file or QBO and the next sync closes this"))


def _new_item(x: ItemXref, qbo: QboMapping) -> dict:
    body: dict = {"Name": x.item_id, "Type": "NonInventory", **_owned(x)}
    if qbo.expense_account:
        body["ExpenseAccountRef"] = {"value": qbo.expense_account}
    return body


__all__ = ["Action", "Link", "partners_without_vendor", "plan_items", "plan_vendors", "vendor_name"]
