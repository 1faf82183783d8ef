"""Items and inventory in the Intacct sandbox: ``create_item`` and the generic ``<create><ITEM>``
(reference §5.9), ``create_ictransaction`` (§5.10), and on-hand quantities per item and warehouse.

An inventory transaction's definition (``transactiontype``) decides whether its lines add to or
take from the quantity on hand, as an Intacct transaction definition's inventory total does;
lines carry positive quantities. Only ``Inventory`` items have quantities. A decrease below zero
is refused unless the company allows negative inventory. Quantities are readable as the
``ITEMWAREHOUSEINFO`` object (``ITEMID``, ``WAREHOUSEID``, ``QTYONHAND``) and through the
emulator's Python accessors. Removing a transaction (a rolled back operation) puts the
quantities back.

Inferred, not verified: the key of ``create_item`` (the ITEMID, as ``create_customer`` returns
the CUSTOMERID) and of ``create_ictransaction`` (its DOCID, ``<definition>-<docno>``); the
``QTYONHAND`` field name; the definition names beyond the SDK's ``Inventory Adjustment``; the
error wording. ``ignoreduplicates="true"`` answers with the existing item's key.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from ...connectors.intacct._xml import text
from .legacy import Ctx, Made, amount_of, custom_values, date_of, legacy
from .store import (
    CREATORS,
    FIELDS,
    ID_FIELD,
    ITEMS,
    LINE_FIELDS,
    ON_REMOVE,
    FunctionFailure,
    Store,
    check_line_location,
)

FIELDS["ITEM"] = ("RECORDNO", "ITEMID", "NAME", "STATUS", "ITEMTYPE", "EXTENDED_DESCRIPTION", "PRODUCTLINEID",
                  "STANDARD_COST", "BASEPRICE", "UPC", "WHENCREATED", "WHENMODIFIED")
FIELDS["INVDOCUMENT"] = ("RECORDNO", "DOCID", "DOCNO", "DOCPARID", "STATE", "WHENCREATED", "WHENMODIFIED",
                         "PONUMBER", "MESSAGE")
FIELDS["ITEMWAREHOUSEINFO"] = ("RECORDNO", "ITEMID", "WAREHOUSEID", "QTYONHAND", "WHENMODIFIED")
ID_FIELD.update(ITEM="ITEMID", INVDOCUMENT="DOCID", ITEMWAREHOUSEINFO="RECORDNO")
ITEMS["INVDOCUMENT"] = ("INVDOCUMENTENTRIES", "invdocumententry")
LINE_FIELDS["INVDOCUMENT"] = ("QUANTITY", "UNIT", "COST", "WAREHOUSEID", "CUSTOMERID")
ITEM_TYPES = frozenset({"Inventory", "Non-Inventory", "Non-Inventory (Purchase only)", "Non-Inventory (Sales only)",
                        "Kit", "Stockable Kit"})
DEFAULT_IC_DEFINITIONS = {"Beginning Balance": 1, "Adjustment Increase": 1, "Inventory Receipt": 1,
                          "Inventory Adjustment": 1, "Adjustment Decrease": -1, "Inventory Shipper": -1,
                          "Inventory Issue": -1}
_LEGACY_ITEM_FIELDS = {"itemid": "ITEMID", "name": "NAME", "status": "STATUS", "itemtype": "ITEMTYPE",
                       "extended_description": "EXTENDED_DESCRIPTION", "productlineid": "PRODUCTLINEID",
                       "standard_cost": "STANDARD_COST", "base_price": "BASEPRICE", "upc": "UPC"}


# -- items -----------------------------------------------------------------------------------


def check_new_item(store: Store, values: dict[str, str]) -> None:
    """The rules of an item create: ID, name and a known type; the ITEMID is new."""
    for field in ("ITEMID", "NAME", "ITEMTYPE"):
        if not values.get(field):
            raise FunctionFailure(f"{field} is required for an item.", description="Required field missing")
    if values["ITEMTYPE"] not in ITEM_TYPES:
        raise FunctionFailure(f"Invalid item type '{values['ITEMTYPE']}'.",
                              correction="Use one of: " + ", ".join(sorted(ITEM_TYPES)) + ".")
    if store.find("ITEM", values["ITEMID"]) is not None:
        raise FunctionFailure(f"Another Item with the given value(s) {values['ITEMID']} already exists",
                              description="Duplicate record")
    values.setdefault("STATUS", "active")


def _generic_item(store: Store, element: etree._Element, values: dict, entity: str) -> tuple[dict, list]:
    check_new_item(store, values)
    return values, []


@legacy("create_item")
def create_item(ctx: Ctx, body: etree._Element) -> Made:
    values = {field: text(body, tag) for tag, field in _LEGACY_ITEM_FIELDS.items() if text(body, tag)}
    existing = ctx.store.find("ITEM", values.get("ITEMID", ""))
    if existing is not None and body.get("ignoreduplicates") == "true":
        return Made("ITEM", existing["RECORDNO"], existing["ITEMID"], new=False)
    check_new_item(ctx.store, values)
    values.update(custom_values(ctx.store, "ITEM", body), WHENCREATED=ctx.now.date(), **ctx.owner())
    return Made("ITEM", ctx.store.insert("ITEM", values), values["ITEMID"])


CREATORS["ITEM"] = _generic_item


# -- inventory transactions ------------------------------------------------------------------


@legacy("create_ictransaction")
def create_ictransaction(ctx: Ctx, body: etree._Element) -> Made:
    store, definition = ctx.store, text(body, "transactiontype")
    if definition not in store.ic_definitions:
        raise FunctionFailure(f"Invalid transaction definition '{definition}' (transactiontype).",
                              correction="Use one of: " + ", ".join(store.ic_definitions) + ".")
    created = date_of(body, "datecreated")
    docno = text(body, "documentno") or str(1 + sum(r["DOCPARID"] == definition for r in store.records("INVDOCUMENT")))
    docid = f"{definition}-{docno}"
    if store.find("INVDOCUMENT", docid) is not None:
        raise FunctionFailure(f"Document number '{docno}' already exists for {definition}.",
                              description="Duplicate document number", correction="Use a new document number.")
    custom = custom_values(store, "INVDOCUMENT", body)
    rows = [_ic_line(ctx, n, line) for n, line in enumerate(body.findall("ictransitems/ictransitem"), start=1)]
    deltas = _deltas(rows, store.ic_definitions[definition])
    _check_quantities(store, deltas)
    for (item_id, warehouse), delta in deltas.items():
        adjust_on_hand(store, item_id, warehouse, delta, ctx.now)
    values = {"DOCID": docid, "DOCNO": docno, "DOCPARID": definition, "STATE": text(body, "state") or "Pending",
              "WHENCREATED": created, "PONUMBER": text(body, "referenceno"), "MESSAGE": text(body, "message"),
              **custom, **ctx.owner()}
    return Made("INVDOCUMENT", store.insert("INVDOCUMENT", values, rows), docid)


def _ic_line(ctx: Ctx, number: int, line: etree._Element) -> dict[str, str]:
    store, item_id, warehouse = ctx.store, text(line, "itemid"), text(line, "warehouseid")
    item = next((r for r in store.visible("ITEM", ctx.entity) if r["ITEMID"] == item_id), None)
    if item is None or item["ITEMTYPE"] != "Inventory":
        raise FunctionFailure(f"Line {number}: '{item_id}' is not an Inventory item of this company (itemid).")
    if warehouse not in store.warehouses:
        raise FunctionFailure(f"Line {number}: invalid warehouse '{warehouse}' (warehouseid).")
    if ctx.entity and store.warehouses[warehouse] not in ("", ctx.entity):
        raise FunctionFailure(f"Line {number}: warehouse '{warehouse}' belongs to entity "
                              f"'{store.warehouses[warehouse]}', not to '{ctx.entity}'.")
    quantity = amount_of(text(line, "quantity"), f"Line {number}: quantity", places=None)
    if quantity <= 0:
        raise FunctionFailure(f"Line {number}: quantity must be greater than zero.")
    location = text(line, "locationid")
    if location:
        check_line_location(store, ctx.entity, number, location)
    return {"ITEMID": item_id, "WAREHOUSEID": warehouse, "QUANTITY": format(quantity, "f"),
            "UNIT": text(line, "unit") or "Each", "COST": text(line, "cost"), "LOCATIONID": location or ctx.entity,
            "DEPARTMENTID": text(line, "departmentid"), "ENTRYDESCRIPTION": text(line, "itemdesc"),
            "CUSTOMERID": text(line, "customerid")}


def _deltas(rows: list[dict[str, str]], effect: int) -> dict[tuple[str, str], Decimal]:
    deltas: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        key = (row["ITEMID"], row["WAREHOUSEID"])
        deltas[key] = deltas.get(key, Decimal("0")) + effect * Decimal(row["QUANTITY"])
    return deltas


def _check_quantities(store: Store, deltas: dict[tuple[str, str], Decimal]) -> None:
    if store.allow_negative_inventory:
        return
    for (item_id, warehouse), delta in deltas.items():
        left = on_hand(store, item_id, warehouse) + delta
        if left < 0:
            raise FunctionFailure(f"Not enough quantity on hand of '{item_id}' in warehouse '{warehouse}': "
                                  f"{on_hand(store, item_id, warehouse)} on hand, {-delta} to take.",
                                  description="Insufficient quantity")


def _row(store: Store, item_id: str, warehouse: str) -> dict[str, str] | None:
    return next((r for r in store.records("ITEMWAREHOUSEINFO")
                 if r["ITEMID"] == item_id and r["WAREHOUSEID"] == warehouse), None)


def on_hand(store: Store, item_id: str, warehouse: str) -> Decimal:
    row = _row(store, item_id, warehouse)
    return Decimal(row["QTYONHAND"]) if row else Decimal("0")


def adjust_on_hand(store: Store, item_id: str, warehouse: str, delta: Decimal, now) -> None:
    """Add ``delta`` to the quantity on hand (creating the item/warehouse row on first use)."""
    row = _row(store, item_id, warehouse)
    if row is None:
        entity = store.warehouses.get(warehouse, "")
        recordno = store.insert("ITEMWAREHOUSEINFO", {"ITEMID": item_id, "WAREHOUSEID": warehouse, "QTYONHAND": "0",
                                                      "MEGAENTITYID": entity,
                                                      "MEGAENTITYNAME": store.entities.get(entity, "")})
        row = store.tables["ITEMWAREHOUSEINFO"][recordno]
    row["QTYONHAND"] = format(Decimal(row["QTYONHAND"]) + delta, "f")
    if now is not None:
        row["WHENMODIFIED"] = now.strftime("%m/%d/%Y %H:%M:%S")


def _put_back(store: Store, record: dict[str, str], lines: list[dict[str, str]]) -> None:
    effect = store.ic_definitions.get(record["DOCPARID"], 0)
    for (item_id, warehouse), delta in _deltas(lines, effect).items():
        adjust_on_hand(store, item_id, warehouse, -delta, None)


ON_REMOVE["INVDOCUMENT"] = _put_back
