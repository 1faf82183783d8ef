"""Magento's ``searchCriteria`` for the Adobe Commerce emulator (reference §A.4).

    searchCriteria[filter_groups][g][filters][f][field|value|condition_type]
    searchCriteria[sortOrders][s][field|direction]
    searchCriteria[pageSize], searchCriteria[currentPage]

What a real store does and this reproduces:
- filters inside one group are ORed, groups are ANDed; only top-level columns can be searched,
  and an unknown column is an SQL error, masked as a 500 "Internal Error ... Report ID: %1";
- snake_case and camelCase keys are both accepted (``filter_groups``/``filterGroups``,
  ``condition_type``/``conditionType``, ``page_size``/``pageSize``, ...);
- ``condition_type`` defaults to ``eq``; string comparisons ignore case (MySQL's default
  collation); ``like`` takes SQL ``%`` and ``_``; ``in``/``nin`` take comma-separated values;
- a sort without ``direction`` is DESC; ties fall back to the primary key, ascending;
- without ``pageSize`` every match comes back; a page <= 0 is page 1; a page past the end
  returns the **last page again** (``past_end="repeat"``, Magento's collections clamp), or
  nothing (``past_end="empty"``);
- the answer echoes the criteria with filter values as strings, and ``page_size`` /
  ``current_page`` only when they were sent (2.4.4+);
- ``fields=items[a,b],total_count`` trims the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import INVALID_TYPE, MAX_PAGE_SIZE, REQUIRED_FIELD, AdobeError, internal_error, invalid_value

CONDITIONS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "moreq", "from", "to", "in", "nin", "like", "nlike",
              "null", "notnull", "finset", "nfinset")
_BRACKETS = re.compile(r"\[([^\]]*)\]")


@dataclass
class Filter:
    field: str
    value: str
    condition: str = "eq"


@dataclass
class Criteria:
    groups: list[list[Filter]] = field(default_factory=list)
    sorts: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    page_size: int | None = None
    current_page: int | None = None


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def nest(pairs: Iterable[tuple[str, str]]) -> dict:
    """PHP's reading of ``a[b][0][c]=v`` query keys into nested dicts (last value wins)."""
    root: dict = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *_BRACKETS.findall(key[len(head):])]
        node = root
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return root


def _get(node: Any, name: str) -> Any:
    """A key in either spelling (Magento maps snake_case onto camelCase setters)."""
    if not isinstance(node, dict):
        return None
    for key, value in node.items():
        if _camel(key) == name:
            return value
    return None


def _entries(node: Any) -> list:
    return list(node.values()) if isinstance(node, dict) else []


def _integer(raw: Any) -> int | None:
    if raw is None:
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        raise AdobeError(400, INVALID_TYPE, {"value": raw, "type": "int"}) from None


def parse(params: list[tuple[str, str]], *, max_page_size: int | None = None) -> Criteria:
    """The criteria of a list request; ``searchCriteria`` must be present, even empty."""
    tree = nest(params)
    if "searchCriteria" not in tree:
        raise AdobeError(400, REQUIRED_FIELD, {"fieldName": "searchCriteria"})
    node = tree["searchCriteria"]
    criteria = Criteria()
    for group in _entries(_get(node, "filterGroups")):
        filters = []
        for raw in _entries(_get(group, "filters")):
            name = _get(raw, "field")
            if not name:
                continue
            condition = str(_get(raw, "conditionType") or "eq").lower()
            if condition not in CONDITIONS:
                raise invalid_value("condition_type", condition)
            filters.append(Filter(str(name), str(_get(raw, "value") or ""), condition))
        if filters:
            criteria.groups.append(filters)
    for raw in _entries(_get(node, "sortOrders")):
        name = _get(raw, "field")
        if name:
            criteria.sorts.append((str(name), str(_get(raw, "direction") or "DESC").upper() != "ASC"))
    criteria.page_size = _integer(_get(node, "pageSize"))
    criteria.current_page = _integer(_get(node, "currentPage"))
    if max_page_size is not None:  # the optional input limits (reference §A.3)
        if criteria.page_size is not None and criteria.page_size > max_page_size:
            raise AdobeError(400, MAX_PAGE_SIZE, {"max": max_page_size})
    return criteria


# -- evaluation ---------------------------------------------------------------------------


def _moment(value: Any) -> datetime | None:
    """A DATETIME column or filter value: MySQL reads 'Y-m-d H:i:s', 'Y-m-dTH:i:s' and offsets."""
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _number(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _pair(stored: Any, value: str, column: str) -> tuple[Any, Any] | None:
    if stored is None:
        return None
    if column.endswith("_at") or column == "datetime":
        left, right = _moment(stored), _moment(value)
        return (left, right) if left is not None and right is not None else None
    if _is_money(column) or (isinstance(stored, (int, float, Decimal)) and not isinstance(stored, bool)):
        left, right = _number(stored), _number(value)  # a junk amount matches no numeric filter
        return (left, right) if left is not None and right is not None else None
    return str(stored).casefold(), value.casefold()


def _is_money(column: str) -> bool:
    """DECIMAL columns: compared as numbers even when a broken extension put text on the wire."""
    return any(part in column for part in ("total", "amount", "price", "balance", "limit", "adjustment"))


def _like(stored: Any, pattern: str) -> bool:
    if stored is None:
        return False
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, str(stored), re.IGNORECASE | re.DOTALL) is not None


def _compare(op: str, stored: Any, value: str, column: str) -> bool:
    pair = _pair(stored, value, column)
    if pair is None:
        return False
    left, right = pair
    return {"eq": left == right, "neq": left != right, "gt": left > right, "lt": left < right,
            "gteq": left >= right, "moreq": left >= right, "from": left >= right,
            "lteq": left <= right, "to": left <= right}[op]


def _value(row: dict, column: str) -> Any:
    """A column's value; ``entity_id`` is the table key behind the ``id`` of EAV entities."""
    if column == "entity_id" and "entity_id" not in row:
        return row.get("id")
    return row.get(column)


def matches(row: dict, flt: Filter) -> bool:
    stored, cond = _value(row, flt.field), flt.condition
    if cond == "null":
        return stored is None
    if cond == "notnull":
        return stored is not None
    if cond in ("in", "nin"):
        hit = any(_compare("eq", stored, v.strip(), flt.field) for v in flt.value.split(","))
        return hit if cond == "in" else (stored is not None and not hit)
    if cond in ("like", "nlike"):
        hit = _like(stored, flt.value)
        return hit if cond == "like" else (stored is not None and not hit)
    if cond in ("finset", "nfinset"):
        members = [m.strip().casefold() for m in str(stored or "").split(",")]
        hit = flt.value.strip().casefold() in members
        return hit if cond == "finset" else not hit
    if cond == "neq":
        return stored is not None and not _compare("eq", stored, flt.value, flt.field)
    return _compare(cond, stored, flt.value, flt.field)


def _sort_key(row: dict, column: str) -> tuple:
    value = _value(row, column)
    if value is None:
        return (0, 0)  # NULLs sort first ascending, as in MySQL
    if column.endswith("_at"):
        moment = _moment(value)
        return (1, moment.timestamp() if moment else 0)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return (1, Decimal(str(value)))
    return (2, str(value).casefold())


def run(criteria: Criteria, rows: list[dict], columns: frozenset[str], id_key: str,
        past_end: str = "repeat") -> tuple[list[dict], int]:
    """(the page of rows, total matches). ``rows`` arrive in primary-key order."""
    for flt in [f for group in criteria.groups for f in group] + [Filter(c, "") for c, _ in criteria.sorts]:
        if flt.field not in columns:
            raise internal_error()  # "Column not found" from MySQL, masked in production mode
    hits = [row for row in rows if all(any(matches(row, f) for f in group) for group in criteria.groups)]
    hits.sort(key=lambda row: row.get(id_key) or 0)
    for column, descending in reversed(criteria.sorts):  # stable sorts, last key first
        hits.sort(key=lambda row: _sort_key(row, column), reverse=descending)
    total, size = len(hits), criteria.page_size
    if not size or size <= 0:
        return hits, total
    page = max(criteria.current_page or 1, 1)
    last = max((total + size - 1) // size, 1)
    if page > last:
        if past_end == "empty":
            return [], total
        page = last  # Data\Collection::getCurPage() clamps to the last page
    return hits[(page - 1) * size: page * size], total


def echo(criteria: Criteria) -> dict:
    """The ``search_criteria`` object of the answer: values as strings, sizes only when sent."""
    out: dict[str, Any] = {"filter_groups": [
        {"filters": [{"field": f.field, "value": f.value, "condition_type": f.condition} for f in group]}
        for group in criteria.groups]}
    if criteria.sorts:
        out["sort_orders"] = [{"field": c, "direction": "DESC" if d else "ASC"} for c, d in criteria.sorts]
    if criteria.page_size is not None:
        out["page_size"] = criteria.page_size
    if criteria.current_page is not None:
        out["current_page"] = criteria.current_page
    return out


# -- ``fields=`` projection ----------------------------------------------------------------


def _parse_fields(text: str, pos: int = 0) -> tuple[dict, int]:
    spec: dict[str, Any] = {}
    name = ""
    while pos < len(text):
        ch = text[pos]
        if ch == "[":
            spec[name.strip()], pos = _parse_fields(text, pos + 1)
            name = ""
        elif ch == "]":
            if name.strip():
                spec[name.strip()] = None
            return spec, pos + 1
        elif ch == ",":
            if name.strip():
                spec[name.strip()] = None
            name, pos = "", pos + 1
            continue
        else:
            name += ch
        pos += 1 if ch != "[" else 0
    if name.strip():
        spec[name.strip()] = None
    return spec, pos


def _apply(value: Any, spec: dict | None) -> Any:
    if spec is None:
        return value
    if isinstance(value, list):
        return [_apply(v, spec) for v in value]
    if isinstance(value, dict):
        return {k: _apply(value[k], sub) for k, sub in spec.items() if k in value}
    return value


def project(body: Any, fields: str | None) -> Any:
    """``body`` trimmed to ``fields`` (``items[increment_id,entity_id],total_count``)."""
    if not fields:
        return body
    spec, _ = _parse_fields(fields)
    return _apply(body, spec)
