"""Accounts payable beyond bills in the Intacct sandbox: ``create_apadjustment`` (AP credit/debit
memos, reference §5.4) and ``create_potransaction`` (purchasing documents, PODOCUMENT, §5.8).

A purchasing document is keyed by its DOCID, ``<transactiontype>-<documentno>`` (``Purchase
Order-PO-1001``), which is what the legacy create returns as ``<key>``; a document number already
used by the same transaction definition is refused. Without ``documentno`` the sandbox numbers
the document itself (``PO0001``...), as a definition with auto-numbering does.

Inferred, not verified: the error wording; the key shape; an AP adjustment's sign convention
(the sandbox only enforces the documented rule that all lines share one sign); PO lines name
existing items and warehouses only once the company has any (as dimensions are checked).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, InvalidOperation

from lxml import etree

from ...connectors.intacct._xml import text
from .legacy import Ctx, Made, amount_of, check_item, custom_values, date_of, gl_lines, legacy, party, total
from .po import PODOCUMENT_LINE_FIELDS
from .store import CENT, FIELDS, ID_FIELD, ITEMS, LINE_FIELDS, FunctionFailure, check_line_location

FIELDS["APADJUSTMENT"] = ("RECORDNO", "RECORDID", "VENDORID", "VENDORNAME", "STATE", "WHENCREATED", "WHENMODIFIED",
                          "DOCNUMBER", "DESCRIPTION", "CURRENCY", "TOTALENTERED", "TRX_TOTALENTERED", "TOTALDUE",
                          "TRX_TOTALDUE")
ID_FIELD["APADJUSTMENT"] = "RECORDID"
ITEMS["APADJUSTMENT"] = ("APADJUSTMENTITEMS", "apadjustmentitem")
LINE_FIELDS.update(APADJUSTMENT=("ACCOUNTLABEL",), PODOCUMENT=PODOCUMENT_LINE_FIELDS)
PO_DEFINITIONS = {"Purchase Order": "PO", "Purchase Requisition": "PR", "Vendor Invoice": "VI", "PO Receiver": "RC"}


@legacy("create_apadjustment")
def create_apadjustment(ctx: Ctx, body: etree._Element) -> Made:
    vendor = party(ctx, "VENDOR", text(body, "vendorid"))
    created = date_of(body, "datecreated")
    custom = custom_values(ctx.store, "APADJUSTMENT", body)
    rows = gl_lines(ctx, body, "apadjustmentitems/lineitem", same_sign=True)
    amount = total(rows)
    action = text(body, "action") or "Submit"
    if action not in ("Draft", "Submit"):
        raise FunctionFailure(f"action must be Draft or Submit (got '{action}').")
    values = {"RECORDID": text(body, "adjustmentno"), "VENDORID": vendor["VENDORID"], "VENDORNAME": vendor["NAME"],
              "STATE": "Draft" if action == "Draft" else "Posted", "WHENCREATED": created,
              "DOCNUMBER": text(body, "billno"), "DESCRIPTION": text(body, "description"),
              "CURRENCY": text(body, "currency") or "USD", "TOTALENTERED": amount, "TRX_TOTALENTERED": amount,
              "TOTALDUE": amount, "TRX_TOTALDUE": amount, **custom, **ctx.owner()}
    recordno = ctx.store.insert("APADJUSTMENT", values, rows)
    return Made("APADJUSTMENT", recordno, recordno)


@legacy("create_potransaction")
def create_potransaction(ctx: Ctx, body: etree._Element) -> Made:
    definition = text(body, "transactiontype")
    if definition not in PO_DEFINITIONS:
        raise FunctionFailure(f"Invalid transaction definition '{definition}' (transactiontype).",
                              correction="Use one of: " + ", ".join(PO_DEFINITIONS) + ".")
    vendor = party(ctx, "VENDOR", text(body, "vendorid"))
    created = date_of(body, "datecreated")
    docno = text(body, "documentno") or _next_docno(ctx, definition)
    docid = f"{definition}-{docno}"
    if ctx.store.find("PODOCUMENT", docid) is not None:
        raise FunctionFailure(f"Document number '{docno}' already exists for {definition}.",
                              description="Duplicate document number", correction="Use a new document number.")
    custom = custom_values(ctx.store, "PODOCUMENT", body)
    rows = [_po_line(ctx, number, line) for number, line in enumerate(body.findall("potransitems/potransitem"), 1)]
    amount = total(rows)
    values = {"DOCID": docid, "DOCNO": docno, "DOCPARID": definition, "VENDORID": vendor["VENDORID"],
              "VENDORNAME": vendor["NAME"], "STATE": text(body, "state") or "Pending", "WHENCREATED": created,
              "WHENDUE": date_of(body, "datedue", required=False), "PONUMBER": text(body, "referenceno"),
              "CURRENCY": text(body, "currency") or "USD", "TOTAL": amount, "MESSAGE": text(body, "message"),
              **custom, **ctx.owner()}
    recordno = ctx.store.insert("PODOCUMENT", values, rows)
    return Made("PODOCUMENT", recordno, docid)


def _po_line(ctx: Ctx, number: int, line: etree._Element) -> dict[str, str]:
    quantity = amount_of(text(line, "quantity"), f"Line {number}: quantity", places=None)
    if quantity <= 0:
        raise FunctionFailure(f"Line {number}: quantity must be greater than zero.")
    price = amount_of(text(line, "price") or "0", f"Line {number}: price", places=None)
    item_id, warehouse = text(line, "itemid"), text(line, "warehouseid")
    check_item(ctx, number, item_id)
    if warehouse and ctx.store.warehouses and warehouse not in ctx.store.warehouses:
        raise FunctionFailure(f"Line {number}: invalid warehouse '{warehouse}' (warehouseid).")
    location = text(line, "locationid")
    if location:  # optional on PO lines; when given, the multi-entity rules hold
        check_line_location(ctx.store, ctx.entity, number, location)
    try:
        amount = (quantity * price).quantize(CENT, ROUND_HALF_UP)
    except InvalidOperation:
        raise FunctionFailure(f"Line {number}: quantity x price is too large.") from None
    return {"ITEMID": item_id, "QUANTITY": format(quantity, "f"), "UNIT": text(line, "unit") or "Each",
            "PRICE": format(price, "f"), "WAREHOUSEID": warehouse, "AMOUNT": format(amount, "f"),
            "TRX_AMOUNT": format(amount, "f"), "ENTRYDESCRIPTION": text(line, "memo"),
            "LOCATIONID": location or ctx.entity, "DEPARTMENTID": text(line, "departmentid"),
            "CLASSID": text(line, "classid")}


def _next_docno(ctx: Ctx, definition: str) -> str:
    prefix = PO_DEFINITIONS[definition]
    taken = {r["DOCNO"] for r in ctx.store.records("PODOCUMENT") if r["DOCPARID"] == definition}
    number = len(taken) + 1
    while f"{prefix}{number:04d}" in taken:
        number += 1
    return f"{prefix}{number:04d}"

