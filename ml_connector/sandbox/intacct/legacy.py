"""What the sandbox's legacy functions share: the registry the dispatcher reads, and the readers of
legacy values (``<year><month><day>`` dates, amounts, ``<customfields>``, ``<lineitem>`` rows).

A handler gets a :class:`Ctx` (store, clock, the session's entity) and the function body, already
checked for element order by :mod:`.legacy_schema`, and returns what it made. The
dispatcher (:func:`run`) records the function controlid and the undo entry for a transaction
rollback, and answers with ``<key>``, as legacy create functions do (reference §2.1).
Business failures raise :class:`FunctionFailure` before anything is stored, so a failed function
leaves the company untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple

from lxml import etree

from ...connectors.intacct._xml import text
from .store import CENT, DIMENSIONS, ID_FIELD, FunctionFailure, Store, check_line_location


@dataclass
class Ctx:
    """What a legacy function runs with."""

    store: Store
    now: datetime | None  # None in the generic-create path, where the store stamps the record
    entity: str  # the session's entity, "" = top level

    def owner(self) -> dict[str, object]:
        """The audit and ownership fields every record created now gets."""
        return {"WHENMODIFIED": self.now, "MEGAENTITYID": self.entity,
                "MEGAENTITYNAME": self.store.entities.get(self.entity, "")}


class Made(NamedTuple):
    object_name: str
    recordno: str
    key: str
    new: bool = True  # False when ignoreduplicates found an existing record


Handler = Callable[[Ctx, etree._Element], Made]
LEGACY: dict[str, Handler] = {}


def legacy(tag: str) -> Callable[[Handler], Handler]:
    """Register a legacy function handler under its element name."""
    def register(handler: Handler) -> Handler:
        LEGACY[tag] = handler
        return handler
    return register


def run(emulator, body: etree._Element, call) -> etree._Element:
    """Run one legacy function for the dispatcher; returns its ``<key>``."""
    store = emulator.store
    made = LEGACY[body.tag](Ctx(store, emulator._now(), call.location_id), body)
    if made.new:
        store.controlids[(made.object_name, made.recordno)] = call.controlid
        call.undo.append((made.object_name, made.recordno))
    key = etree.Element("key")
    key.text = made.key
    return key


# -- values ----------------------------------------------------------------------------------


def date_of(body: etree._Element, name: str, *, required: bool = True) -> date | None:
    """The ``<name><year/><month/><day/></name>`` date (unpadded numbers are fine)."""
    element = body.find(name)
    if element is None:
        if required:
            raise FunctionFailure(f"{name} is required.", description="Required field missing")
        return None
    try:
        return date(int(text(element, "year")), int(text(element, "month")), int(text(element, "day")))
    except (ValueError, OverflowError):
        raise FunctionFailure(f"{name} is not a valid date.", description="Invalid date") from None


def amount_of(value: str, what: str, *, places: Decimal | None = CENT) -> Decimal:
    """A decimal amount (``.`` separator, no thousands separator), rounded to cents like Intacct."""
    try:
        if not re.fullmatch(r"-?\d{1,15}(\.\d{1,10})?", value.strip()):
            raise InvalidOperation
        amount = Decimal(value)
        return amount.quantize(places, ROUND_HALF_UP) if places is not None else amount
    except InvalidOperation:
        raise FunctionFailure(f"{what} must be a number such as 1000.00 (got '{value[:40]}').",
                              description="Invalid number") from None


def custom_values(store: Store, object_name: str, body: etree._Element) -> dict[str, str]:
    """``<customfields>`` as {name: value}; a name the company has not defined fails the function."""
    values: dict[str, str] = {}
    declared = store.custom_fields.get(object_name, [])
    for field in body.findall("customfields/customfield"):
        name, value = text(field, "customfieldname"), text(field, "customfieldvalue")
        if name not in declared:
            raise FunctionFailure(f"'{name}' is not a custom field of {object_name}.",
                                  description="Invalid custom field",
                                  correction="Create the custom field in the company first.")
        values[name] = value
    return values


def party(ctx: Ctx, object_name: str, ident: str) -> dict[str, str]:
    """The vendor or customer ``ident`` as this session sees it."""
    found = next((r for r in ctx.store.visible(object_name, ctx.entity) if r[ID_FIELD[object_name]] == ident), None)
    if found is None:
        raise FunctionFailure(f"Invalid {object_name.title()} '{ident}' specified.",
                              correction=f"Use the {ID_FIELD[object_name]} of an existing {object_name.lower()}.")
    return found


def check_item(ctx: Ctx, number: int, item_id: str) -> None:
    """Line items name existing items, once the company has any (as dimensions are checked)."""
    items = ctx.store.records("ITEM")
    if item_id and items and not any(r["ITEMID"] == item_id for r in ctx.store.visible("ITEM", ctx.entity)):
        raise FunctionFailure(f"Line {number}: invalid item '{item_id}' (itemid).")


def gl_lines(ctx: Ctx, body: etree._Element, path: str, *, same_sign: bool = False) -> list[dict[str, str]]:
    """The ``<lineitem>`` rows of an invoice or adjustment, checked like bill lines."""
    rows = []
    for number, line in enumerate(body.findall(path), start=1):
        account, label = text(line, "glaccountno"), text(line, "accountlabel")
        if not label and account not in ctx.store.gl_accounts:
            raise FunctionFailure(f"Line {number}: invalid GL account '{account}' (glaccountno).",
                                  correction="Use glaccountno with an existing GL account number.")
        amount = format(amount_of(text(line, "amount"), f"Line {number}: amount"), "f")
        row = {"ACCOUNTNO": account, "ACCOUNTLABEL": label, "AMOUNT": amount, "TRX_AMOUNT": amount,
               "ENTRYDESCRIPTION": text(line, "memo"), "LOCATIONID": text(line, "locationid"),
               "DEPARTMENTID": text(line, "departmentid"), "CLASSID": text(line, "classid"),
               "ITEMID": text(line, "itemid")}
        check_dimensions(ctx, number, row)
        check_item(ctx, number, row["ITEMID"])
        rows.append(row)
    if same_sign and len({Decimal(r["AMOUNT"]) > 0 for r in rows}) > 1:
        raise FunctionFailure("Line amounts must be all positive or all negative.")
    return rows


def check_dimensions(ctx: Ctx, number: int, row: dict[str, str]) -> None:
    """Known departments/locations/classes, and the multi-entity location rules."""
    for kind, field in DIMENSIONS.items():
        known = ctx.store.dimensions[kind]
        if row.get(field) and known and row[field] not in known:
            raise FunctionFailure(f"Line {number}: invalid {kind} '{row[field]}' ({field.lower()}).")
    check_line_location(ctx.store, ctx.entity, number, row.get("LOCATIONID", ""))


def total(rows: list[dict[str, str]], field: str = "AMOUNT") -> str:
    return format(sum((Decimal(r[field]) for r in rows), Decimal("0")), "f")
