"""The XML half of the RSX codec: a hardened parser, element -> dict, dict -> element.

RSX XML does not wrap repeating groups (``LineItem`` simply repeats), so one element alone
cannot say whether it is a list. The pydantic models can: :func:`field_specs` reads their
annotations once per class, and the converter builds exactly the nested-dict shape of the RSX
JSON form, with a single ``LineItem`` still a list. Everything here raises :class:`XmlProblem`
with a one-line reason; ``rsx.py`` turns it into ``BadDocument``.
"""

from __future__ import annotations

import functools
import re
import types
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from lxml import etree
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo

RSX_NS = "http://www.spscommerce.com/RSX"
MAX_DEPTH = 64

# XML 1.0 forbids these characters outright (not even as &#n; references), so an encoder must
# drop them: lxml refuses to serialise them and every partner's parser would refuse to read them.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ABSENT = object()
# Written by hand: lxml's own declaration uses single quotes, which a few partner parsers reject.
_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


class XmlProblem(ValueError):
    """A one-line reason why an XML file cannot be read as RSX."""


def hardened_parser() -> etree.XMLParser:
    """A parser that never expands entities, loads a DTD or touches the network.

    The input is decoded as UTF-8 whatever its declaration says: the codec has already checked
    that it is valid UTF-8, and RSX is UTF-8, so a stray "ISO-8859-1" label cannot garble text.
    """
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )


def parse_tree(payload: bytes) -> etree._Element:
    """The root element of ``payload``; any DOCTYPE is refused before parsing starts.

    Refusing the DOCTYPE outright is the simplest complete defence: entity bombs and external
    entities both need one, and RSX never uses one. (The byte scan also refuses a CDATA section
    that quotes "<!DOCTYPE"; no RSX field carries markup, so that costs nothing real.)
    """
    if _DOCTYPE.search(payload):
        raise XmlProblem("DOCTYPE declarations are not accepted (entities and DTDs are refused)")
    try:
        root = etree.fromstring(payload, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlProblem(f"malformed XML: {_one_line(exc.msg or str(exc))}") from None
    if root.getroottree().docinfo.doctype:  # belt and braces: the regex above should catch it
        raise XmlProblem("DOCTYPE declarations are not accepted (entities and DTDs are refused)")
    _check_depth(root)
    return root


def _check_depth(root: etree._Element) -> None:
    depth = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > MAX_DEPTH:
            raise XmlProblem(f"elements nest deeper than {MAX_DEPTH} levels")


def localname(element: etree._Element) -> str:
    """The element name without its namespace."""
    return element.tag.rpartition("}")[2]


def namespace(element: etree._Element) -> str:
    """The element's namespace URI, '' when it has none."""
    tag = element.tag
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def children(element: etree._Element) -> list[etree._Element]:
    """Child elements in the RSX namespace (or none); extension namespaces are skipped."""
    return [c for c in element if isinstance(c.tag, str) and namespace(c) in (RSX_NS, "")]


# --- what the models say about each element ------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """How one RSX element maps onto a model field."""

    is_list: bool
    model: type[BaseModel] | None
    admits_str: bool


@functools.cache
def field_specs(model: type[BaseModel]) -> dict[str, FieldSpec]:
    """RSX element name (the field alias) -> how to read it, for one model class."""
    specs = {}
    for name, info in model.model_fields.items():
        inner, is_list = _unwrap(info.annotation)
        sub = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
        for element in _element_names(name, info):
            specs[element] = FieldSpec(is_list, sub, _admits_str(inner))
    return specs


def _element_names(name: str, info: FieldInfo) -> list[str]:
    # A field may accept older element names too (AliasChoices); each one maps to the field.
    names = [info.alias or name]
    choices = info.validation_alias
    if isinstance(choices, AliasChoices):
        names += [c for c in choices.choices if isinstance(c, str)]
    elif isinstance(choices, str):
        names.append(choices)
    return list(dict.fromkeys(names))


def _strip(tp: Any) -> Any:
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return tp


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    tp = _strip(annotation)
    if get_origin(tp) in (list, tuple, set, frozenset):
        return _strip(get_args(tp)[0]), True
    return tp, False


def _admits_str(tp: Any) -> bool:
    if tp is str:
        return True
    if get_origin(tp) is Literal:
        return all(isinstance(v, str) for v in get_args(tp))
    if get_origin(tp) in (Union, types.UnionType):
        return any(_admits_str(a) for a in get_args(tp))
    return False


# --- element -> dict -----------------------------------------------------------------------


def element_to_dict(element: etree._Element, model: type[BaseModel]) -> dict[str, Any]:
    """The JSON-form dict of ``element``, read as ``model``; unknown elements are dropped.

    A legacy ``<LineItems><LineItem>…`` wrapper is unwrapped: an unknown element named like a
    list field plus "s" contributes its children of that name.
    """
    specs = field_specs(model)
    out: dict[str, Any] = {}
    for child in children(element):
        name = localname(child)
        spec = specs.get(name)
        if spec is not None:
            _add(out, name, spec, child)
            continue
        inner = specs.get(name[:-1]) if name.endswith("s") else None
        if inner is not None and inner.is_list:
            for grandchild in children(child):
                if localname(grandchild) == name[:-1]:
                    _add(out, name[:-1], inner, grandchild)
    return out


def _add(out: dict[str, Any], name: str, spec: FieldSpec, element: etree._Element) -> None:
    value = _value(element, name, spec)
    if value is _ABSENT:
        return
    if spec.is_list:
        out.setdefault(name, []).append(value)
    elif name in out:
        raise XmlProblem(f"{name} appears more than once where one is allowed (line {element.sourceline})")
    else:
        out[name] = value


def _value(element: etree._Element, name: str, spec: FieldSpec) -> Any:
    if spec.model is not None:
        return element_to_dict(element, spec.model)
    if children(element):
        raise XmlProblem(f"{name} should hold a value, not elements (line {element.sourceline})")
    text = element.text or ""
    if spec.admits_str:
        return text  # text is data: keep it exactly, padding included
    # An empty <Date/> or <OrderQty/> means "not given": leave the key out, so an optional
    # field takes its default and a required one is reported as missing, not as "invalid".
    text = text.strip()
    return text if text else _ABSENT


# --- dict -> element -----------------------------------------------------------------------


def build_document(parent: etree._Element, name: str, data: dict[str, Any]) -> None:
    """Append ``<name>`` holding ``data`` (a by-alias model dump) to ``parent``."""
    element = etree.SubElement(parent, f"{{{RSX_NS}}}{name}")
    for key, value in ordered_items(data):
        _append(element, key, value)


def ordered_items(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """``data``'s items in RSX order: a *Header block first, the rest as the model declares."""
    # The *Header block leads its Header (OrderHeader, InvoiceHeader, …), as in every RSX sample;
    # the models inherit the shared Header groups first, so dump order alone would put it last.
    items = list(data.items())
    for index, (key, value) in enumerate(items):
        if index and key.endswith("Header") and key != "Header" and isinstance(value, dict):
            items.insert(0, items.pop(index))
            break
    return items


def _append(parent: etree._Element, key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _append(parent, key, item)
    elif isinstance(value, dict):
        if value:  # an empty block says nothing; leave it out so parsing yields the default
            build_document(parent, key, value)
    else:
        etree.SubElement(parent, f"{{{RSX_NS}}}{key}").text = scalar_text(value)


def scalar_text(value: Any) -> str:
    """The RSX text of a scalar: plain decimals, ISO dates, lowercase booleans, clean strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return strip_forbidden(str(value))


def plain_decimal(value: Decimal) -> str:
    """A Decimal without exponent: 1E+2 -> '100', 1E-7 -> '0.0000001'."""
    return format(value, "f")


def strip_forbidden(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry."""
    return _FORBIDDEN.sub("", text)


def to_bytes(root: etree._Element) -> bytes:
    """UTF-8 bytes with an XML declaration, indented for the people who open these files."""
    return _DECLARATION + etree.tostring(root, encoding="utf-8", pretty_print=True)


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]
