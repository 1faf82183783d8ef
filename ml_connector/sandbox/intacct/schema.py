"""Structural checks the real gateway makes against its v3.0 XSD before anything runs.

A violation is a control-level ``XL03000003`` "XML Parse schema error", like a malformed
document: no operation runs. Only the parts of the schema our clients touch are checked:
element order in ``control``, ``login`` and the legacy functions the sandbox runs
(:mod:`.legacy_schema`), the ``controlid`` attribute, one body per
``<function>``, and the page-size ranges.
"""

from __future__ import annotations

from lxml import etree

from .legacy_schema import LegacyOrderError, check_legacy

CONTROL_ORDER = ("appid", "senderid", "password", "controlid", "uniqueid", "dtdversion", "policyid",
                 "debug", "includewhitespace", "showadditionalerrorinfo")
LOGIN_ORDER = ("userid", "companyid", "password", "clientid", "locationid")
GENERIC_FUNCTIONS = frozenset({"create", "update", "delete", "read", "readByName", "readByQuery", "readMore",
                               "readRelated", "query", "lookup", "inspect", "getAPISession"})
_PAGE_LIMITS = {"readByQuery": 1000, "query": 2000}


class SchemaError(ValueError):
    """The request does not match the gateway's schema."""


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _in_order(element: etree._Element, order: tuple[str, ...], required: tuple[str, ...]) -> None:
    tags = [child.tag for child in _children(element)]
    unknown = [t for t in tags if t not in order]
    if unknown:
        raise SchemaError(f"Element '{unknown[0]}': This element is not expected in <{element.tag}>.")
    positions = [order.index(t) for t in tags]
    if positions != sorted(set(positions)):  # also catches a repeated element
        raise SchemaError(f"Element <{element.tag}>: children out of order or repeated; expected {', '.join(order)}.")
    missing = [name for name in required if name not in tags]
    if missing:
        raise SchemaError(f"Element <{element.tag}>: missing child element '{missing[0]}'.")


def _boolean(element: etree._Element | None, where: str) -> None:
    if element is not None and (element.text or "").strip() not in ("true", "false"):
        raise SchemaError(f"{where}: '{element.text}' is not a valid boolean.")


def check_request(root: etree._Element) -> None:
    """Raise :class:`SchemaError` unless ``root`` is a structurally valid ``<request>``."""
    children = _children(root)
    if root.tag != "request" or not children or children[0].tag != "control":
        raise SchemaError("Expected <request> starting with <control>.")
    control = children[0]
    _in_order(control, CONTROL_ORDER, ("senderid", "controlid"))
    if len(control.findtext("controlid") or "") > 256:
        raise SchemaError("<controlid> is longer than 256 characters.")
    _boolean(control.find("uniqueid"), "<uniqueid>")
    if (control.findtext("dtdversion") or "3.0").strip() != "3.0":
        raise SchemaError("Only dtdversion 3.0 is served here.")
    operations = children[1:]
    if not operations or any(op.tag != "operation" for op in operations):
        raise SchemaError("Expected one or more <operation> after <control>.")
    for operation in operations:
        _check_operation(operation)


def _check_operation(operation: etree._Element) -> None:
    if operation.get("transaction", "false") not in ("true", "false"):
        raise SchemaError("operation/@transaction must be true or false.")
    children = _children(operation)
    if not children or children[0].tag != "authentication":
        raise SchemaError("<operation> must start with <authentication>.")
    auth = _children(children[0])
    if len(auth) != 1 or auth[0].tag not in ("login", "sessionid"):
        raise SchemaError("<authentication> takes exactly one of <login> and <sessionid>.")
    if auth[0].tag == "login":
        _in_order(auth[0], LOGIN_ORDER, ("userid", "companyid", "password"))
    for content in children[1:]:
        if content.tag != "content":
            raise SchemaError(f"Element '{content.tag}': This element is not expected in <operation>.")
        functions = _children(content)
        if not functions:
            raise SchemaError("<content> needs at least one <function>.")
        for function in functions:
            _check_function(function)


def _check_function(function: etree._Element) -> None:
    controlid = function.get("controlid")
    if function.tag != "function" or controlid is None or not 0 < len(controlid) <= 256:
        raise SchemaError("<function> needs a controlid attribute of 1 to 256 characters.")
    bodies = _children(function)
    if len(bodies) != 1:
        raise SchemaError("<function> holds exactly one function element.")
    body = bodies[0]
    if body.tag not in GENERIC_FUNCTIONS and not body.tag.startswith(("create_", "update_", "delete_", "get_", "reverse_")):
        raise SchemaError(f"Element '{body.tag}': This element is not expected in <function>.")
    try:
        check_legacy(body)  # legacy functions are XSD sequences: order matters
    except LegacyOrderError as exc:
        raise SchemaError(str(exc)) from None
    limit = _PAGE_LIMITS.get(body.tag)
    if limit is not None:
        _int_in(body.find("pagesize"), 1, limit, f"{body.tag}/pagesize")
        _int_in(body.find("offset"), 0, None, f"{body.tag}/offset")


def _int_in(element: etree._Element | None, low: int, high: int | None, where: str) -> None:
    if element is None:
        return
    try:
        value = int((element.text or "").strip())
    except ValueError:
        raise SchemaError(f"{where}: '{element.text}' is not an integer.") from None
    if value < low or (high is not None and value > high):
        raise SchemaError(f"{where}: {value} is outside {low}..{high if high is not None else ''}.")
