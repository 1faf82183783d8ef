"""The read functions of the Intacct sandbox: readByQuery/readMore, query and read.

The two paginations differ as the reference says (§4.2): readByQuery keeps a server-side
cursor named by ``resultId`` (a snapshot taken at query time, lowercase ``listtype`` and row
tags) and readMore continues it until ``numremaining`` is 0; ``query`` has no cursor, pages by
``offset`` over the live data, and uses the UPPERCASE object name for ``listtype`` and rows;
its ``options/caseinsensitive`` is honoured (``showprivate`` is accepted: the top level sees all).
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from ...connectors.intacct._xml import sub, text
from .query import parse_filter, parse_where, query_failure, sort_key
from .store import FIELDS, ITEM_FIELDS, ITEMS, FunctionFailure, Store


@dataclass
class _Cursor:
    id: str
    object_name: str
    rows: list[dict]
    fields: list[str]
    page_size: int
    position: int = 0


class Reads:
    """Answers read functions from a :class:`Store`; holds the open readByQuery cursors."""

    def __init__(self, store: Store, max_cursors: int = 100) -> None:
        self.store = store
        self.max_cursors = max_cursors
        self.cursors: dict[str, _Cursor] = {}

    def read_by_query(self, body: etree._Element, entity: str = "") -> etree._Element:
        """The first page of a readByQuery; opens a cursor when more rows remain. ``entity`` is
        the session's entity: it sees only what :meth:`Store.visible` lets it."""
        object_name = self._object(body)
        fields = self._fields(object_name, text(body, "fields") or "*")
        predicate = parse_where(text(body, "query"), self.store.fields(object_name))
        rows = [dict(r) for r in self.store.visible(object_name, entity) if predicate(r)]  # a snapshot
        cursor = _Cursor(secrets.token_hex(12), object_name, rows, fields, int(text(body, "pagesize") or 100))
        return self._page(cursor)

    def read_more(self, body: etree._Element, entity: str = "") -> etree._Element:
        """The next page of an open cursor, named by resultId (or by object: the latest)."""
        result_id, object_name = text(body, "resultId"), text(body, "object").upper()
        if result_id:
            cursor = self.cursors.get(result_id)
        else:  # readMore by object continues the latest open readByQuery on it
            cursor = next((c for c in reversed(self.cursors.values()) if c.object_name == object_name), None)
        if cursor is None:
            raise FunctionFailure(f"There is no open readByQuery for resultId '{result_id}' "
                                  f"(it was read to the end or has expired).", description="Invalid resultId")
        return self._page(cursor)

    def _page(self, cursor: _Cursor) -> etree._Element:
        page = cursor.rows[cursor.position:cursor.position + cursor.page_size]
        cursor.position += len(page)
        remaining = len(cursor.rows) - cursor.position
        self.cursors.pop(cursor.id, None)
        if remaining:  # re-inserted, so the least recently used cursor is evicted first
            self.cursors[cursor.id] = cursor
            while len(self.cursors) > self.max_cursors:
                self.cursors.pop(next(iter(self.cursors)))
        data = etree.Element("data", {
            "listtype": cursor.object_name.lower(), "count": str(len(page)), "totalcount": str(len(cursor.rows)),
            "numremaining": str(remaining), "resultId": cursor.id if cursor.rows else "",
        })
        for row in page:
            render(data, cursor.object_name.lower(), row, cursor.fields)
        return data

    def query(self, body: etree._Element, entity: str = "") -> etree._Element:
        """One ``query`` page: select, filter, orderby, then ``offset``/``pagesize``."""
        object_name = self._object(body)
        select = body.find("select")
        names = [c for c in (select if select is not None else ()) if isinstance(c.tag, str)]
        if not names or any(c.tag != "field" for c in names):
            raise query_failure("select needs one or more <field> (the sandbox has no aggregates)")
        fields = self._fields(object_name, ",".join((c.text or "").strip() for c in names))
        rows = self._sorted(body, object_name, self._filtered(body, object_name, entity))
        size, offset = int(text(body, "pagesize") or 100), int(text(body, "offset") or 0)
        page = rows[offset:offset + size]
        data = etree.Element("data", {
            "listtype": object_name, "totalcount": str(len(rows)), "offset": str(offset), "count": str(len(page)),
            "numremaining": str(max(len(rows) - offset - len(page), 0)),
        })
        for row in page:
            render(data, object_name, row, fields)
        return data

    def _filtered(self, body: etree._Element, object_name: str, entity: str) -> list[dict]:
        rows = self.store.visible(object_name, entity)
        container = body.find("filter")
        conditions = [c for c in (container if container is not None else ()) if isinstance(c.tag, str)]
        if len(conditions) > 1:
            raise query_failure("<filter> takes one condition; combine several with <and> or <or>")
        if conditions and text(body, "options/caseinsensitive") == "true":
            # Case-insensitive: compare lowercased values on both sides.
            condition = copy.deepcopy(conditions[0])
            for value in condition.iter("value"):
                value.text = (value.text or "").lower()
            predicate = parse_filter(condition, self.store.fields(object_name))
            rows = [r for r in rows if predicate({k: v.lower() for k, v in r.items()})]
        elif conditions:
            predicate = parse_filter(conditions[0], self.store.fields(object_name))
            rows = [r for r in rows if predicate(r)]
        return rows

    def _sorted(self, body: etree._Element, object_name: str, rows: list[dict]) -> list[dict]:
        # Without orderby the real order is undefined; the sandbox keeps RECORDNO order.
        for order in reversed(body.findall("orderby/order")):  # stable sorts, last key first
            name = (order.findtext("field") or "").strip()
            self._fields(object_name, name)
            rows = sorted(rows, key=sort_key(name), reverse=order.find("descending") is not None)
        return rows

    def read(self, body: etree._Element, entity: str = "") -> etree._Element:
        """Records by RECORDNO (unknown or invisible keys are skipped), with their line items."""
        object_name = self._object(body)
        fields = self._fields(object_name, text(body, "fields") or "*")
        table = {r["RECORDNO"]: r for r in self.store.visible(object_name, entity)}
        found = [table[k.strip()] for k in text(body, "keys").split(",") if k.strip() in table]
        data = etree.Element("data", listtype=object_name.lower(), count=str(len(found)))
        for record in found:
            row = render(data, object_name.lower(), record, fields)
            if object_name in ITEMS:  # read, unlike readByQuery, returns the owned line items
                container, tag = ITEMS[object_name]
                items = sub(row, container)
                for item in self.store.items.get((object_name, record["RECORDNO"]), []):
                    render(items, tag, item, ITEM_FIELDS + tuple(k for k in item if k not in ITEM_FIELDS))
        return data

    def _object(self, body: etree._Element) -> str:
        object_name = text(body, "object").upper()
        if object_name not in FIELDS:
            raise FunctionFailure(f"Object definition {object_name or '(none)'} not found", description="Query Failed")
        return object_name

    def _fields(self, object_name: str, spec: str) -> list[str]:
        known = self.store.fields(object_name)
        if spec.strip() == "*":
            return list(known)
        names = [name.strip() for name in spec.split(",") if name.strip()]
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise query_failure(f"unknown field(s) {', '.join(unknown) or '(none)'} on {object_name}")
        return names


def render(parent: etree._Element, tag: str, record: Mapping[str, str], fields: Sequence[str]) -> etree._Element:
    """Append one record as ``<tag><FIELD>value</FIELD>...</tag>`` (null fields stay empty)."""
    row = sub(parent, tag)
    for name in fields:
        sub(row, name, record.get(name) or None)
    return row
