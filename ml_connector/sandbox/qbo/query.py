"""The QBO query language subset the emulator understands (reference §B.5).

    SELECT * | COUNT(*) FROM <Entity>
        [WHERE <cond> [AND <cond>]...]
        [ORDER BY | ORDERBY <field> [ASC|DESC] [, ...]]
        [STARTPOSITION n] [MAXRESULTS n]
    <cond> := <field> (= | != | < | > | <= | >=) <literal>
            | <field> IN (<literal>, ...) | <field> LIKE '<pattern with %>'

Keywords, entity and field names are case-insensitive (``Metadata.LastUpdatedTime`` works as
singer tap-quickbooks writes it); there is no OR and no join. STARTPOSITION is 1-based,
MAXRESULTS defaults to 100 and may not exceed 1000. List entities show only active rows unless
the statement mentions ``Active``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_RESULTS, DEFAULT_RESULTS = 1000, 100
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),*])|(?P<name>[A-Za-z_][\w.]*))"
)


class QueryError(ValueError):
    """The statement does not parse or names something unknown."""


@dataclass
class Condition:
    field: str
    op: str
    value: Any  # a literal, or a list of them for IN


@dataclass
class Query:
    entity: str
    count: bool = False
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_RESULTS


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"QueryParserError: Encountered unexpected text at position {pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, entities: dict[str, str]) -> None:
        self.tokens, self.i, self.entities = tokenize(text), 0, entities

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("eof", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.i += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "name" and value.upper() in words:
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            raise QueryError(f"QueryParserError: expected {word}, found {self.peek()[1] or 'end of statement'!r}")

    def parse(self) -> Query:
        self.expect("SELECT")
        count = self._projection()
        self.expect("FROM")
        kind, name = self.take()
        entity = self.entities.get(name.lower()) if kind == "name" else None
        if entity is None:
            raise QueryError(f"QueryValidationError: Entity {name!r} is not supported")
        query = Query(entity=entity, count=count)
        if self.keyword("WHERE"):
            query.where.append(self._condition())
            while self.keyword("AND"):
                query.where.append(self._condition())
        if self.keyword("ORDERBY") or (self.keyword("ORDER") and self.keyword("BY")):
            query.order.append(self._order_item())
            while self.peek() == ("punct", ","):
                self.take()
                query.order.append(self._order_item())
        if self.keyword("STARTPOSITION"):
            query.start = self._integer("STARTPOSITION")
        if self.keyword("MAXRESULTS"):
            query.max_results = self._integer("MAXRESULTS")
        if self.peek()[0] != "eof":
            raise QueryError(f"QueryParserError: Encountered {self.peek()[1]!r} where the statement should end")
        if query.start < 1 or not 1 <= query.max_results <= MAX_RESULTS:
            raise QueryError(f"QueryValidationError: STARTPOSITION must be >= 1 and MAXRESULTS 1..{MAX_RESULTS}")
        return query

    def _projection(self) -> bool:
        if self.peek() == ("punct", "*"):
            self.take()
            return False
        if self.keyword("COUNT"):
            for expected in ("(", "*", ")"):
                if self.take() != ("punct", expected):
                    raise QueryError("QueryParserError: expected count(*)")
            return True
        raise QueryError("QueryParserError: only SELECT * and SELECT COUNT(*) are supported here")

    def _condition(self) -> Condition:
        kind, name = self.take()
        if kind != "name":
            raise QueryError(f"QueryParserError: expected a property name, found {name!r}")
        if self.keyword("IN"):
            if self.take() != ("punct", "("):
                raise QueryError("QueryParserError: expected ( after IN")
            values = [self._literal()]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self._literal())
            if self.take() != ("punct", ")"):
                raise QueryError("QueryParserError: expected ) to close IN")
            return Condition(name, "IN", values)
        if self.keyword("LIKE"):
            return Condition(name, "LIKE", self._literal())
        kind, op = self.take()
        if kind != "op":
            raise QueryError(f"QueryParserError: expected an operator after {name}, found {op!r}")
        return Condition(name, "!=" if op == "<>" else op, self._literal())

    def _literal(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "num":
            return Decimal(value)
        if kind == "name" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise QueryError(f"QueryParserError: expected a literal, found {value!r}")

    def _order_item(self) -> tuple[str, bool]:
        kind, name = self.take()
        if kind != "name":
            raise QueryError("QueryParserError: expected a property after ORDER BY")
        descending = self.keyword("DESC")
        if not descending:
            self.keyword("ASC")
        return name, descending

    def _integer(self, word: str) -> int:
        kind, value = self.take()
        if kind != "num" or "." in value:
            raise QueryError(f"QueryParserError: {word} needs an integer")
        return int(value)


def parse(text: str, entities: dict[str, str]) -> Query:
    """Parse ``text``; ``entities`` maps lower-case names to canonical ones."""
    return _Parser(text, entities).parse()


def resolve(obj: dict, path: str) -> Any:
    """The value at a dotted, case-insensitive ``path``; a reference compares by its ``value``."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        key = next((k for k in current if k.lower() == part.lower()), None)
        current = current.get(key) if key is not None else None
    if isinstance(current, dict) and "value" in current:
        return current["value"]
    return current


def _comparable(stored: Any, literal: Any) -> tuple[Any, Any] | None:
    """Both sides in one comparable type, or None when they cannot be compared."""
    if stored is None:
        return None
    if isinstance(literal, bool) or isinstance(stored, bool):
        return (stored, literal) if isinstance(stored, bool) and isinstance(literal, bool) else None
    if isinstance(literal, Decimal) or isinstance(stored, (int, float, Decimal)):
        try:
            return Decimal(str(stored)), Decimal(str(literal))
        except InvalidOperation:
            return None
    when, then = _datetime(stored), _datetime(literal)
    if when is not None and then is not None:
        return when, then
    return str(stored), str(literal)


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10 or value[4:5] != "-":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def matches(obj: dict, cond: Condition) -> bool:
    stored = resolve(obj, cond.field)
    if cond.op == "IN":
        return any(matches(obj, Condition(cond.field, "=", v)) for v in cond.value)
    if cond.op == "LIKE":
        pattern = "^" + ".*".join(re.escape(p) for p in str(cond.value).split("%")) + "$"
        return stored is not None and re.match(pattern, str(stored), re.I | re.S) is not None
    pair = _comparable(stored, cond.value)
    if pair is None:
        return False
    left, right = pair
    try:
        return {"=": left == right, "!=": left != right, "<": left < right, ">": left > right,
                "<=": left <= right, ">=": left >= right}[cond.op]
    except TypeError:
        return False


def sort_key(obj: dict, path: str) -> tuple:
    value = resolve(obj, path)
    when = _datetime(value)
    if when is not None:
        return (1, when.timestamp(), "")
    if isinstance(value, str) and value.isdigit():
        return (1, int(value), "")
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return (1, Decimal(str(value)), "")
    return (0, 0, "") if value is None else (2, 0, str(value))


def run(query: Query, rows: list[dict], list_entity: bool) -> tuple[list[dict], int]:
    """(the page of rows, the total match count) for ``query`` over ``rows`` (in Id order)."""
    where = list(query.where)
    if list_entity and not any(c.field.lower() == "active" for c in where):
        where.append(Condition("Active", "=", True))
    hits = [row for row in rows if all(matches(row, c) for c in where)]
    for path, descending in reversed(query.order):  # stable sorts, last key first
        hits.sort(key=lambda row: sort_key(row, path), reverse=descending)
    start = query.start - 1
    return hits[start:start + query.max_results], len(hits)
