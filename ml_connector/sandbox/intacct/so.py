"""Order Entry sales orders (SODOCUMENT) in the Intacct sandbox: legacy ``create_sotransaction``.

Keyed by DOCID, ``<transactiontype>-<documentno>``, which the legacy create returns as ``<key>``
(as ``create_potransaction`` does); a document number already used by the same definition is
refused, the customer must exist, line items name existing items once the company has any.
Inferred, not verified: the error wording and the key shape (as for purchasing documents).
"""

from __future__ import annotations

from lxml import etree

from ...connectors.intacct._xml import text
from .ap_extra import _po_line
from .legacy import Ctx, Made, date_of, legacy, party, total
from .legacy_schema import SEQUENCES, _seq
from .po import PODOCUMENT_LINE_FIELDS
from .store import FIELDS, ID_FIELD, ITEMS, LINE_FIELDS, FunctionFailure

FIELDS.setdefault("SODOCUMENT", (
    "RECORDNO", "DOCID", "DOCNO", "DOCPARID", "CUSTOMERID", "CUSTOMERNAME", "STATE", "WHENCREATED", "WHENDUE",
    "WHENMODIFIED", "PONUMBER", "CURRENCY", "TOTAL", "MESSAGE",
))
ID_FIELD.setdefault("SODOCUMENT", "DOCID")
ITEMS.setdefault("SODOCUMENT", ("SODOCUMENTENTRIES", "sodocumententry"))
LINE_FIELDS.setdefault("SODOCUMENT", PODOCUMENT_LINE_FIELDS)
SO_DEFINITIONS = ("Sales Order", "Sales Quote", "Sales Invoice")
SEQUENCES["create_sotransaction"] = _seq(
    "transactiontype, datecreated, dateposted?, createdfrom?, customerid, documentno?, origdocdate?, referenceno?, "
    "termname?, datedue?, message?, shippingmethod?, shipto?, billto?, supdocid?, externalid?, basecurr?, currency?, "
    "exchratedate?, exchratetype?, exchrate?, customfields?, state?, sotransitems")
SEQUENCES["sotransitems"] = _seq("sotransitem+")
SEQUENCES["sotransitem"] = _seq(
    "itemid, itemdesc?, itemaliasid?, taxable?, warehouseid?, quantity, unit?, linelevelsimpletaxtype?, "
    "discountpercent?, price?, sourcelinekey?, discsurchargememo?, locationid?, departmentid?, memo?, "
    "customfields?, projectid?, customerid?, vendorid?, employeeid?, classid?")


@legacy("create_sotransaction")
def create_sotransaction(ctx: Ctx, body: etree._Element) -> Made:
    definition = text(body, "transactiontype")
    if definition not in SO_DEFINITIONS:
        raise FunctionFailure(f"Invalid transaction definition '{definition}' (transactiontype).",
                              correction="Use one of: " + ", ".join(SO_DEFINITIONS) + ".")
    customer = party(ctx, "CUSTOMER", text(body, "customerid"))
    docno = text(body, "documentno")
    if not docno:
        raise FunctionFailure("documentno is required (the sandbox does not auto-number sales orders).",
                              description="Required field missing")
    docid = f"{definition}-{docno}"
    if ctx.store.find("SODOCUMENT", docid) is not None:
        raise FunctionFailure(f"Document number '{docno}' already exists for {definition}.",
                              description="Duplicate document number", correction="Use a new document number.")
    rows = [_po_line(ctx, number, line) for number, line in enumerate(body.findall("sotransitems/sotransitem"), 1)]
    if not rows:
        raise FunctionFailure("A sales order needs at least one line (sotransitems/sotransitem).")
    values = {"DOCID": docid, "DOCNO": docno, "DOCPARID": definition, "CUSTOMERID": customer["CUSTOMERID"],
              "CUSTOMERNAME": customer["NAME"], "STATE": "Pending", "WHENCREATED": date_of(body, "datecreated"),
              "WHENDUE": date_of(body, "datedue", required=False), "PONUMBER": text(body, "referenceno"),
              "CURRENCY": text(body, "currency") or "USD", "TOTAL": total(rows), "MESSAGE": text(body, "message"),
              **ctx.owner()}
    recordno = ctx.store.insert("SODOCUMENT", values, rows)
    return Made("SODOCUMENT", recordno, docid)
