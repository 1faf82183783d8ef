"""Seeded revisions of a Commerce world, as Magento lets orders change after they were placed:
what a demo or soak applies between runs so the integrations see edits, cancellations and
re-orders of documents they already posted (docs/revisions-commerce.md has the rules).

Per order picked (a ``share`` of them, the same ones for the same seed):
- nothing invoiced or shipped yet: edited in place (a quantity raised), cancelled, or edited by
  reorder (cancelled and placed again as ``<increment_id>-1``);
- shipped but not wholly invoiced: cancelled (``canCancel`` still allows it);
- anything else Magento would not change: held and released (a new ``updated_at``, the same document).
Call it holding the emulator's lock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from . import docs
from .store import AdobeStore


@dataclass
class Revised:
    """What :func:`revise_orders` changed, by order increment id."""

    edited: dict[str, Decimal] = field(default_factory=dict)  # the new grand_total
    cancelled: list[str] = field(default_factory=list)
    reordered: dict[str, str] = field(default_factory=dict)  # old -> new increment id
    held: list[str] = field(default_factory=list)  # held and released: no change of the document


def revise_orders(store: AdobeStore, *, seed: int = 7, share: float = 0.3) -> Revised:
    rng, out = random.Random(seed), Revised()
    for order in sorted(store.rows("order"), key=lambda o: o["entity_id"]):
        if rng.random() >= share or order["state"] == "canceled" or order.get("relation_parent_id"):
            continue
        items = docs.billable(order)
        untouched = not any(i["qty_invoiced"] or i["qty_shipped"] for i in items)
        roll = rng.random()
        if untouched and order["state"] == "new" and roll < 0.4:
            first = items[0]
            edited = store.edit_order(order["entity_id"], {first["item_id"]: first["qty_ordered"] + 1})
            out.edited[order["increment_id"]] = edited["grand_total"]
        elif untouched and order["state"] == "new" and roll < 0.6:
            lines = [{"sku": i["sku"], "name": i["name"], "product_id": i["product_id"], "price": i["price"],
                      "qty": i["qty_ordered"] + 1} for i in items if i.get("product_type") != "configurable"]
            if lines:
                out.reordered[order["increment_id"]] = store.edit_by_reorder(order["entity_id"], lines)["increment_id"]
        elif store.can_cancel(order):
            store.cancel(order["entity_id"])
            out.cancelled.append(order["increment_id"])
        elif store.hold(order["entity_id"]) is not None:
            store.unhold(order["entity_id"])
            out.held.append(order["increment_id"])
    return out
