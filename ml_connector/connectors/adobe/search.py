"""``searchCriteria`` for Magento list endpoints, built as flat query pairs (reference §A.4).

Filters inside one group are OR-ed, groups are AND-ed; sort direction is always sent because
Magento's default is DESC; timestamps are ``YYYY-MM-DD HH:MM:SS`` in UTC without a zone (§A.5).

No group, filter or sort index may reach 10 (at most ten of each): Magento sorts the OAuth 1.0a parameters in
natural order (``strnatcmp``) and RFC 5849 in byte order, and the two orders agree only while
every index is one digit (see :mod:`.oauth1`). One group can hold many values with ``in``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

CONDITIONS = frozenset({"eq", "finset", "from", "gt", "gteq", "in", "like", "lt", "lteq", "moreq", "neq",
                        "nfinset", "nin", "notnull", "null", "to"})
MAX_INDEX = 10
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_ts(value: datetime) -> str:
    """A Magento timestamp (UTC, no zone) for a timezone-aware ``datetime``."""
    if value.tzinfo is None:
        raise ValueError("timestamps sent to Magento must be timezone-aware (Magento stores UTC)")
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_ts(value: Any) -> datetime | None:
    """A Magento timestamp (``2017-08-21 22:22:20``, UTC) as an aware ``datetime``; None stays None.

    ISO forms with ``T``, fractions or a zone are accepted too (I/O Events use them)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)  # ValueError on garbage
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(_value(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Filter:
    """One condition: ``field <condition> value`` (``in``/``nin`` take a list)."""

    field: str
    value: Any = None
    condition: str = "eq"

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"unknown Magento condition_type {self.condition!r}")
        if not self.field or not self.field.replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"not a searchable field name: {self.field!r}")


@dataclass(frozen=True)
class SearchCriteria:
    """An immutable search: ``groups`` AND-ed (each an OR of filters), ``sort`` in order."""

    groups: tuple[tuple[Filter, ...], ...] = ()
    sort: tuple[tuple[str, str], ...] = ()
    page_size: int | None = None
    current_page: int | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())  # e.g. ("fields", "items[entity_id]")

    def where(self, *filters: Filter) -> SearchCriteria:
        """Add one group: ``filters`` OR-ed, AND-ed with the groups already there."""
        if not filters:
            raise ValueError("a filter group needs at least one filter")
        if len(filters) > MAX_INDEX or len(self.groups) >= MAX_INDEX:
            raise ValueError(f"at most {MAX_INDEX} filter groups of at most {MAX_INDEX} filters (use 'in')")
        return replace(self, groups=(*self.groups, tuple(filters)))

    def order_by(self, field_name: str, direction: str = "ASC") -> SearchCriteria:
        """Add a sort key (direction always sent: Magento's default is DESC)."""
        direction = direction.upper()
        if direction not in ("ASC", "DESC"):
            raise ValueError("direction is ASC or DESC")
        if len(self.sort) >= MAX_INDEX:
            raise ValueError(f"at most {MAX_INDEX} sort orders")
        return replace(self, sort=(*self.sort, (field_name, direction)))

    def page(self, current_page: int, page_size: int) -> SearchCriteria:
        """The same search at one page (1-based; Magento treats 0 and 1 differently on /V1/search)."""
        if current_page < 1 or page_size < 1:
            raise ValueError("current_page and page_size start at 1")
        return replace(self, current_page=current_page, page_size=page_size)

    def to_pairs(self) -> list[tuple[str, str]]:
        """The query pairs; an empty search still sends ``searchCriteria=`` (Magento requires it)."""
        pairs: list[tuple[str, str]] = []
        for g, group in enumerate(self.groups):
            for f, flt in enumerate(group):
                prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
                pairs.append((f"{prefix}[field]", flt.field))
                if flt.condition not in ("null", "notnull") or flt.value is not None:
                    pairs.append((f"{prefix}[value]", _value(flt.value)))
                pairs.append((f"{prefix}[condition_type]", flt.condition))
        for s, (name, direction) in enumerate(self.sort):
            pairs.append((f"searchCriteria[sortOrders][{s}][field]", name))
            pairs.append((f"searchCriteria[sortOrders][{s}][direction]", direction))
        if self.page_size is not None:
            pairs.append(("searchCriteria[pageSize]", str(self.page_size)))
        if self.current_page is not None:
            pairs.append(("searchCriteria[currentPage]", str(self.current_page)))
        if not pairs:
            pairs.append(("searchCriteria", ""))
        return [*pairs, *self.extra]
