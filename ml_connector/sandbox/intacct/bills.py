"""Changing and cancelling AP bills in the Intacct sandbox: generic ``<update><APBILL>``, generic
``<delete>`` of APBILL, legacy ``<reverse_bill>``, payments that block them, and closed periods.

What the sandbox holds to (docs/revisions-sps-intacct.md has the sources):

* An update names the bill by ``RECORDNO``; the header fields given change, and ``APBILLITEMS``,
  when given, replaces the whole line set (lines are validated as on create). ``RECORDID`` and
  ``VENDORID`` stay what they were: the sandbox refuses a change of either.
* Only unpaid bills are updated, deleted or reversed. A bill with a payment applied (TOTALPAID
  not zero) is refused with the wording Intacct syncs report ("Transaction '...' is already paid
  and can't be deleted"); the update's wording is inferred from it.
* A reversed bill (STATE ``Reversed``) stays in the company, with a reversing entry dated
  ``datereversed``; it can no longer be updated, deleted or reversed.
* Closed periods: a create, update, delete or reversal whose GL date (WHENPOSTED, else
  WHENCREATED; ``datereversed`` for a reversal; for an update or delete also the bill's current
  GL date) falls in a closed month fails with Intacct's text: "Periods are closed." / "Your
  transaction date (mm/dd/yyyy) is within a period that's been closed. You can add, modify, or
  delete a transaction only if the date of the transaction is within a period that's open."
  (intacct/intacct-sdk-net issue 105). The errorno is not published: :data:`PERIOD_CLOSED` is
  synthetic. Periods are calendar months, closed with :meth:`IntacctEmulator.close_period`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from lxml import etree

from ...connectors.intacct._xml import DATE_FORMAT, DATETIME_FORMAT, sub_fields, text, to_record
from .legacy import Ctx, Made, date_of, legacy
from .legacy_schema import SEQUENCES, _seq
from .store import (
    FIELDS,
    ITEM_FIELDS,
    LINE_FIELDS,
    FunctionFailure,
    Store,
    check_line_location,
    check_open,
    flatten,
    gl_date,
)

FIELDS["APBILL"] = FIELDS["APBILL"] + tuple(f for f in ("WHENPOSTED", "TOTALPAID", "TRX_TOTALPAID")
                                            if f not in FIELDS["APBILL"])
SEQUENCES["reverse_bill"] = _seq("datereversed, description?")

REVERSED = "Reversed"
_FIXED = frozenset({"RECORDNO", "RECORDID", "VENDORID", "VENDORNAME", "STATE", "MEGAENTITYID", "MEGAENTITYNAME",
                    "WHENMODIFIED", "TOTALENTERED", "TRX_TOTALENTERED", "TOTALDUE", "TRX_TOTALDUE", "TOTALPAID",
                    "TRX_TOTALPAID"})


def update_bill(emulator, element: etree._Element, call) -> etree._Element:
    """One ``<update><APBILL>``: the bill ``RECORDNO`` takes the header fields and lines given."""
    store: Store = emulator.store
    bill = _changeable(store, element.findtext("RECORDNO") or "", call.location_id, "update")
    values = flatten(to_record(element))
    for name in ("RECORDID", "VENDORID"):
        if values.get(name) and values[name] != bill[name]:
            raise FunctionFailure(f"{name} cannot be changed on update ({bill[name]} -> {values[name]}).")
    merged = {**bill, **{k: v for k, v in values.items() if k in bill and k not in _FIXED}}
    for name in ("WHENCREATED", "WHENDUE") + (("WHENPOSTED",) if merged.get("WHENPOSTED") else ()):
        try:
            datetime.strptime(merged[name], DATE_FORMAT)
        except ValueError:
            raise FunctionFailure(f"{name} must be mm/dd/yyyy (got '{merged[name]}').",
                                  description="Invalid date") from None
    check_open(store, gl_date(merged))
    key = ("APBILL", bill["RECORDNO"])
    rows = None
    if element.find("APBILLITEMS") is not None:
        rows = [{k: v for k, v in to_record(row).items() if isinstance(v, str)}
                for row in element.findall("APBILLITEMS/APBILLITEM")]
        if not rows:
            raise FunctionFailure("A bill needs at least one line (APBILLITEMS/APBILLITEM).")
        for number, row in enumerate(rows, start=1):
            store._bill_line(number, row)
            check_line_location(store, call.location_id, number, row.get("LOCATIONID", ""))
    before, lines_before = dict(bill), store.items.get(key, [])
    bill.update(merged)
    if rows is not None:
        store.items[key] = [{name: row.get(name, "") for name in ITEM_FIELDS + LINE_FIELDS.get("APBILL", ())}
                            for row in rows]
        for number, row in enumerate(store.items[key], start=1):
            row.update(RECORDNO=store.next_recordno(), LINE_NO=str(number))
        total = format(sum((Decimal(r["TRX_AMOUNT"]) for r in rows), Decimal("0")), "f")
        bill.update(TOTALENTERED=total, TRX_TOTALENTERED=total, TOTALDUE=total, TRX_TOTALDUE=total)
    bill["WHENMODIFIED"] = emulator._now().strftime(DATETIME_FORMAT)

    def undo() -> None:
        bill.clear()
        bill.update(before)
        store.items[key] = lines_before

    call.undo.append(undo)
    data = etree.Element("data", listtype="objects", count="1")
    sub_fields(etree.SubElement(data, "apbill"), [("RECORDNO", bill["RECORDNO"]), ("RECORDID", bill["RECORDID"])])
    return data


def delete(emulator, body: etree._Element, call) -> etree._Element:
    """One generic ``<delete>``; the sandbox deletes APBILLs only."""
    store: Store = emulator.store
    object_name = text(body, "object")
    if object_name != "APBILL":
        raise FunctionFailure(f"The sandbox cannot delete {object_name} with the generic delete.",
                              description="Object definition not supported")
    recordnos = [k.strip() for k in text(body, "keys").split(",") if k.strip()]
    if not recordnos:
        raise FunctionFailure("delete needs keys (RECORDNO values).", description="Required field missing")
    bills = [_changeable(store, recordno, call.location_id, "delete") for recordno in recordnos]
    removed = []
    for bill in bills:
        key = ("APBILL", bill["RECORDNO"])
        removed.append((bill, store.items.get(key, []), store.controlids.get(key)))
        store.tables["APBILL"].pop(bill["RECORDNO"])
        store.items.pop(key, None)
        store.controlids.pop(key, None)

    def undo() -> None:
        for bill, lines, controlid in removed:
            key = ("APBILL", bill["RECORDNO"])
            store.tables["APBILL"][bill["RECORDNO"]] = bill
            store.items[key] = lines
            if controlid is not None:
                store.controlids[key] = controlid

    call.undo.append(undo)
    return etree.Element("data", listtype="objects", count=str(len(removed)))


@legacy("reverse_bill")
def reverse_bill(ctx: Ctx, body: etree._Element) -> Made:
    """``<reverse_bill key="RECORDNO"><datereversed/><description/>``: the bill is reversed on
    ``datereversed`` (a reversing entry; the bill stays, STATE ``Reversed``)."""
    on = date_of(body, "datereversed")
    bill = _changeable(ctx.store, body.get("key", ""), ctx.entity, "reverse")
    check_open(ctx.store, on)
    if on is not None and (created := gl_date(bill)) is not None and on < created:
        raise FunctionFailure(f"The reversal date {on.strftime(DATE_FORMAT)} is before the bill's date "
                              f"{created.strftime(DATE_FORMAT)}.", description="Invalid date")
    bill.update(STATE=REVERSED, TOTALDUE="0", TRX_TOTALDUE="0", WHENMODIFIED=ctx.now.strftime(DATETIME_FORMAT)
                if ctx.now else bill["WHENMODIFIED"])
    return Made("APBILL", bill["RECORDNO"], bill["RECORDNO"], new=False)


def _changeable(store: Store, recordno: str, entity: str, verb: str) -> dict[str, str]:
    """The bill ``recordno`` as this session sees it, if it may still be changed."""
    bill = next((r for r in store.visible("APBILL", entity) if r["RECORDNO"] == recordno.strip()), None)
    if bill is None:
        raise FunctionFailure(f"Cannot {verb} non-existing APBILL with RECORDNO={recordno}.",
                              correction="Give the RECORDNO of an existing bill.")
    if bill["STATE"] == REVERSED:
        raise FunctionFailure(f"Bill '{bill['RECORDID'] or recordno}' is reversed and can't be changed.",
                              description="Invalid state")
    if Decimal(bill.get("TOTALPAID") or "0") != 0:
        verb_text = "deleted" if verb == "delete" else "modified" if verb == "update" else "reversed"
        raise FunctionFailure(f"Transaction '{bill['RECORDID'] or recordno}' is already paid and can't be "
                              f"{verb_text}.", description="Invalid state",
                              correction="Void or reverse the payment first.")
    check_open(store, gl_date(bill))
    return bill
