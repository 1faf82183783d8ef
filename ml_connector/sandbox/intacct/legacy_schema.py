"""Element order of the legacy (object-specific) functions, checked as the v3.0 XSD does.

Legacy functions are ``xs:sequence``s: children must come in schema order, required ones must be
there, and anything else is "not expected" (reference §1.7). The gateway validates the whole
request before running anything, so a violation fails the request at control level with
``XL03000003``, with a libxml2-style message, as a malformed document does.

The sequences are those of the published schema (``intacct/intacct_dtd``: v3.0 ``api.xsd``, and
the v2.1 DTDs it grew from), cut to the elements a client of this product could send; an element
of the real schema that is left out here is refused as unexpected. ``(basecurr?, currency,
(exchratedate?, exchratetype | exchrate))?`` is flattened to five optional elements.
"""

from __future__ import annotations

from lxml import etree

# A sequence is a tuple of (alternative names, min occurs, max occurs or None for unbounded).
Seq = tuple[tuple[tuple[str, ...], int, int | None], ...]


def _seq(spec: str) -> Seq:
    """``"a, b?, (c|d), e*, f+"`` -> a sequence."""
    out = []
    for part in (p.strip() for p in spec.split(",")):
        low, high = 1, 1
        if part[-1] in "?*+":
            low, high = {"?": (0, 1), "*": (0, None), "+": (1, None)}[part[-1]]
            part = part[:-1]
        out.append((tuple(part.strip("()").split("|")), low, high))
    return tuple(out)


_CURRENCY = "basecurr?, currency?, exchratedate?, exchratetype?, exchrate?"
_DATE = _seq("year, month, day")
_LINEITEM = _seq(
    "(accountlabel|glaccountno), offsetglaccountno?, amount, allocationid?, memo?, locationid?, departmentid?, "
    "item1099?, form1099type?, form1099box?, key?, totalpaid?, totaldue?, customfields?, revrectemplate?, "
    "defrevaccount?, revrecstartdate?, revrecenddate?, projectid?, taskid?, costtypeid?, customerid?, vendorid?, "
    "employeeid?, itemid?, classid?, contractid?, warehouseid?, billable?, totaltrxamount?")
_CONTACT_REF = _seq("(contactname|contact)")

SEQUENCES: dict[str, Seq] = {
    "create_invoice": _seq(
        "customerid, datecreated, dateposted?, datedue?, termname?, batchkey?, action?, invoiceno?, ponumber?, "
        f"description?, externalid?, billto?, shipto?, {_CURRENCY}, nogl?, supdocid?, customfields?, "
        "taxsolutionid?, invoiceitems"),
    "create_aradjustment": _seq(
        "customerid, datecreated, dateposted?, batchkey?, adjustmentno?, action?, invoiceno?, description?, "
        f"externalid?, {_CURRENCY}, nogl?, taxsolutionid?, aradjustmentitems"),
    "create_apadjustment": _seq(
        "vendorid, datecreated, dateposted?, batchkey?, adjustmentno?, action?, billno?, description?, "
        f"externalid?, {_CURRENCY}, nogl?, customfields?, inclusivetax?, taxsolutionid?, apadjustmentitems"),
    "create_arpayment": _seq(
        "customerid, paymentamount, translatedamount?, (batchkey|bankaccountid|undepfundsacct)?, refid?, "
        f"overpaylocid?, overpaydeptid?, datereceived?, paymentmethod?, {_CURRENCY}, cctype?, authcode?, "
        "arpaymentitem*"),
    "create_potransaction": _seq(
        "transactiontype, datecreated, dateposted?, createdfrom?, vendorid, documentno?, referenceno?, "
        "vendordocno?, termname?, datedue?, message?, shippingmethod?, returnto, payto, deliverto?, supdocid?, "
        f"externalid?, {_CURRENCY}, customfields?, state?, projectid?, needbydate?, taxsolutionid?, "
        "potransitems, subtotals?"),
    "create_ictransaction": _seq(
        "transactiontype, datecreated, createdfrom?, documentno?, referenceno?, message?, externalid?, "
        "basecurr?, customfields?, state?, ictransitems, subtotals?"),
    "create_item": _seq(
        "itemid, name, status?, itemtype, enablefulfillment?, extended_description?, productlineid?, "
        "substituteid?, ship_weight?, taxable?, cost_method?, standard_cost?, average_cost?, base_price?, "
        "standard_unit?, default_warehouse?, glgroup?, note?, upc?, incomeaccount?, invaccount?, expenseaccount?, "
        "cogsaccount?, customfields?"),
    # nested elements
    "datecreated": _DATE, "dateposted": _DATE, "datedue": _DATE, "datereceived": _DATE, "needbydate": _DATE,
    "invoiceitems": _seq("lineitem+"), "aradjustmentitems": _seq("lineitem+"),
    "apadjustmentitems": _seq("lineitem+"), "lineitem": _LINEITEM,
    "arpaymentitem": _seq("invoicekey, amount"),
    "customfields": _seq("customfield*"), "customfield": _seq("customfieldname, customfieldvalue"),
    "returnto": _CONTACT_REF, "payto": _CONTACT_REF, "deliverto": _CONTACT_REF,
    "potransitems": _seq("potransitem+"),
    "potransitem": _seq(
        "itemid, itemdesc?, itemaliasid?, taxable?, warehouseid?, quantity, unit?, linelevelsimpletaxtype?, "
        "price?, sourcelinekey?, overridetaxamount?, deliverto?, tax?, locationid?, departmentid?, memo?, "
        "form1099?, customfields?, projectid?, taskid?, costtypeid?, customerid?, vendorid?, employeeid?, "
        "classid?, contractid?, billable?"),
    "ictransitems": _seq("ictransitem+"),
    "ictransitem": _seq(
        "itemid, itemdesc?, warehouseid, quantity, unit?, cost?, sourcelinekey?, locationid?, adjdocentrykey?, "
        "departmentid?, customfields?, projectid?, customerid?, vendorid?, employeeid?, classid?, contractid?"),
}


class LegacyOrderError(ValueError):
    """A legacy function body that the XSD would refuse (message in libxml2's words)."""


def check_legacy(element: etree._Element) -> None:
    """Validate ``element`` and its nested sequences; raise :class:`LegacyOrderError`."""
    sequence = SEQUENCES.get(element.tag)
    if sequence is None:
        return
    children = [c for c in element if isinstance(c.tag, str)]
    _match(element.tag, sequence, [c.tag for c in children])
    for child in children:
        check_legacy(child)


def _match(parent: str, sequence: Seq, tags: list[str]) -> None:
    at = 0
    for names, low, high in sequence:
        count = 0
        while at < len(tags) and tags[at] in names and (high is None or count < high):
            at, count = at + 1, count + 1
        if count < low:
            expected = " | ".join(names)
            if at < len(tags):
                raise LegacyOrderError(f"Element '{tags[at]}': This element is not expected. "
                                       f"Expected is ( {expected} ).")
            raise LegacyOrderError(f"Element '{parent}': Missing child element(s). Expected is ( {expected} ).")
    if at < len(tags):
        raise LegacyOrderError(f"Element '{tags[at]}': This element is not expected (in '{parent}').")
