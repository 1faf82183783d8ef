"""Record selection for the Intacct sandbox: the readByQuery query string, the ``query``
filter element, and the comparisons both share.

The query-string dialect is the subset clients use: ``FIELD op 'value'`` with ``= != <> < <=
> >=``, ``[NOT] IN ('a', 'b')``, ``[NOT] LIKE 'A%'``, ``IS [NOT] NULL``, ``AND``, ``OR`` and
parentheses. String literals escape a quote with a backslash (reference §6.1). Values compare
as timestamps (``MM/DD/YYYY[ HH:MM:SS]``), then as numbers, then as text, so
``WHENMODIFIED >= '05/01/2024 00:00:00'`` is chronological, not alphabetical.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from ...connectors.intacct._xml import DATE_FORMAT, DATETIME_FORMAT
from .store import FunctionFailure

Predicate = Callable[[dict], bool]
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|<>|!=|=|<|>)"
                    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")
_COMPARE = {
    "=": lambda c: c == 0, "!=": lambda c: c != 0, "<>": lambda c: c != 0,
    "<": lambda c: c < 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0,
}
_XML_OPS = {
    "equalto": "=", "notequalto": "!=", "lessthan": "<", "lessthanorequalto": "<=",
    "greaterthan": ">", "greaterthanorequalto": ">=",
}


def query_failure(detail: str) -> FunctionFailure:
    return FunctionFailure(detail, description="Query Failed")


# -- comparisons -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _key(value: str) -> tuple[int, object]:
    for rank, fmt in ((0, DATETIME_FORMAT), (0, DATE_FORMAT)):
        try:
            return rank, datetime.strptime(value, fmt)
        except ValueError:
            pass
    try:
        return 1, Decimal(value)
    except InvalidOperation:
        return 2, value


def compare(left: str, right: str) -> int:
    """-1, 0 or 1: typed when both sides parse as the same kind, else as text."""
    (kind_l, a), (kind_r, b) = _key(left), _key(right)
    if kind_l != kind_r:
        a, b = left, right
    return (a > b) - (a < b)


def _like(pattern: str) -> re.Pattern:
    parts = ("." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts) + r"\Z", re.S)


def condition(field: str, op: str, values: Sequence[str], negate: bool = False) -> Predicate:
    """A predicate on one field: a comparison operator, ``in``, ``like`` or ``null``."""
    test = _test(op, values)
    if negate:
        return lambda record: not test(record.get(field, ""))
    return lambda record: test(record.get(field, ""))


def _test(op: str, values: Sequence[str]) -> Callable[[str], bool]:
    if op == "in":
        return lambda v: any(compare(v, x) == 0 for x in values)
    if op == "like":
        return _like(values[0]).match
    if op == "null":
        return lambda v: v == ""
    check, value = _COMPARE[op], values[0]
    return lambda v: v != "" and check(compare(v, value))  # null never compares true, as in SQL


def _all(preds: list[Predicate]) -> Predicate:
    return lambda r: all(p(r) for p in preds)


def _any(preds: list[Predicate]) -> Predicate:
    return lambda r: any(p(r) for p in preds)


# -- readByQuery query strings ---------------------------------------------------------------


def parse_where(text: str, fields: Sequence[str]) -> Predicate:
    """The predicate of a readByQuery ``<query>``; an empty query selects everything."""
    if not text.strip():
        return lambda record: True
    parser = _Parser(_tokens(text), set(fields))
    predicate = parser.expression()
    if parser.peek() is not None:
        raise query_failure(f"unexpected {parser.peek()[1]!r} in query")
    return predicate


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise query_failure(f"cannot read the query at {text[position:position + 20]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.S)
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: expression := term (OR term)*; term := factor (AND factor)*."""

    def __init__(self, tokens: list[tuple[str, str]], fields: set[str]) -> None:
        self.tokens, self.fields, self.at = tokens, fields, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str | None = None, word: str | None = None) -> str:
        token = self.peek()
        if token is None or (kind and token[0] != kind) or (word and token[1].upper() != word):
            raise query_failure(f"expected {word or kind} in query, found {token[1] if token else 'the end'!r}")
        self.at += 1
        return token[1]

    def accept(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.at += 1
            return True
        return False

    def expression(self) -> Predicate:
        preds = [self.term()]
        while self.accept("OR"):
            preds.append(self.term())
        return preds[0] if len(preds) == 1 else _any(preds)

    def term(self) -> Predicate:
        preds = [self.factor()]
        while self.accept("AND"):
            preds.append(self.factor())
        return preds[0] if len(preds) == 1 else _all(preds)

    def factor(self) -> Predicate:
        if self.peek() == ("punct", "("):
            self.take("punct")
            inner = self.expression()
            self.take("punct", ")")
            return inner
        field = self.take("word")
        if field not in self.fields:
            raise query_failure(f"unknown field {field!r} in query")
        return self.test(field)

    def test(self, field: str) -> Predicate:
        if self.accept("IS"):
            negate = self.accept("NOT")
            self.take("word", "NULL")
            return condition(field, "null", (), negate)
        negate = self.accept("NOT")
        if self.accept("IN"):
            self.take("punct", "(")
            values = [self.literal()]
            while self.peek() == ("punct", ","):
                self.take("punct")
                values.append(self.literal())
            self.take("punct", ")")
            return condition(field, "in", values, negate)
        if self.accept("LIKE"):
            return condition(field, "like", [self.literal()], negate)
        if negate:
            raise query_failure("NOT must be followed by IN or LIKE")
        return condition(field, self.take("op"), [self.literal()])

    def literal(self) -> str:
        token = self.peek()
        if token is None or token[0] not in ("str", "num"):
            raise query_failure(f"expected a value in query, found {token[1] if token else 'the end'!r}")
        self.at += 1
        return token[1]


# -- query <filter> --------------------------------------------------------------------------


def parse_filter(element: etree._Element, fields: Sequence[str]) -> Predicate:
    """The predicate of one ``query`` filter element (``<and>``, ``<equalto>``, ``<in>``...)."""
    op = element.tag
    if op in ("and", "or"):
        children = [parse_filter(child, fields) for child in element if isinstance(child.tag, str)]
        if len(children) < 2:
            raise query_failure(f"<{op}> needs at least two conditions")
        return _all(children) if op == "and" else _any(children)
    field = (element.findtext("field") or "").strip()
    if field not in fields:
        raise query_failure(f"unknown field {field!r} in filter")
    values = [(v.text or "").strip() for v in element.findall("value")]
    if op in _XML_OPS and len(values) == 1:
        return condition(field, _XML_OPS[op], values)
    if op in ("in", "notin") and values:
        return condition(field, "in", values, negate=op == "notin")
    if op in ("like", "notlike") and len(values) == 1:
        return condition(field, "like", values, negate=op == "notlike")
    if op in ("isnull", "isnotnull"):
        return condition(field, "null", (), negate=op == "isnotnull")
    if op == "between" and len(values) == 2:
        return _all([condition(field, ">=", values[:1]), condition(field, "<=", values[1:])])
    raise query_failure(f"unsupported filter <{op}> or wrong number of values")


def sort_key(field: str) -> Callable[[dict], tuple[int, object]]:
    """Sort records by ``field`` with the same typing as comparisons."""
    return lambda record: _key(record.get(field, ""))
