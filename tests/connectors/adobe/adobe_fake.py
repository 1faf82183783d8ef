"""A small Magento written from reference §A for the connector's own tests (the full emulator
is ml_connector/sandbox/adobe.py): ``/rest[/<store>]/V1`` routing, searchCriteria with OR inside
a group and AND across groups, sortOrders defaulting to DESC, "no pageSize = all", the
out-of-range page answered with the last page again (or an empty page), the
``{items, search_criteria, total_count}`` envelope and ``{message, parameters}`` error bodies."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.adobe import AdobeClient, AdobeConfig

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "adobe"
BASE = "https://shop.example.com"
LIST_PATHS = {"orders": "orders", "invoices": "invoices", "creditmemos": "creditmemos", "shipments": "shipments",
              "customers/search": "customers", "products": "products", "company/": "companies"}
ITEM_PATHS = {"orders": ("orders", "entity_id"), "invoices": ("invoices", "entity_id"),
              "creditmemo": ("creditmemos", "entity_id"), "shipment": ("shipments", "entity_id"),
              "customers": ("customers", "id"), "products": ("products", "sku"), "company": ("companies", "id")}
_KEY = re.compile(r"\[([^\]]*)\]")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def magento_query(raw: str) -> dict:
    """The query as Magento reads it (``rawurldecode``: ``+`` stays a plus), nested on [..]."""
    tree: dict = {}
    for part in filter(None, raw.split("&")):
        name, _, value = part.partition("=")
        name, value = unquote(name), unquote(value)
        head, keys = name.split("[", 1)[0], _KEY.findall(name)
        node = tree
        for key in [head, *keys][:-1]:
            node = node.setdefault(key, {})
        node[([head, *keys])[-1]] = value
    return tree


def _compare(a: Any, b: str) -> tuple:
    try:
        return Decimal(str(a)), Decimal(b)
    except Exception:
        return str(a), b


def _matches(entity: dict, flt: dict) -> bool:
    field, value, cond = flt.get("field"), flt.get("value", ""), flt.get("condition_type", "eq")
    have = entity.get(field)
    if cond == "null":
        return have is None
    if cond == "notnull":
        return have is not None
    if have is None:
        return False
    if cond in ("in", "nin"):
        inside = str(have) in value.split(",")
        return inside if cond == "in" else not inside
    if cond == "like":
        return re.fullmatch(re.escape(value).replace("%", ".*"), str(have)) is not None
    x, y = _compare(have, value)
    return {"eq": x == y, "neq": x != y, "gt": x > y, "gteq": x >= y, "lt": x < y, "lteq": x <= y,
            "from": x >= y, "to": x <= y, "moreq": x >= y}[cond]


class FakeMagento:
    """Callable MockTransport handler. ``routes[(method, path)]`` overrides any endpoint."""

    def __init__(self, entities: dict[str, list[dict]] | None = None, *, out_of_range: str = "repeat",
                 with_total: bool = True, store: str = "default") -> None:
        self.entities = entities or {}
        self.out_of_range, self.with_total, self.store = out_of_range, with_total, store
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []
        self.guard: Callable[[httpx.Request], httpx.Response | None] | None = None  # e.g. auth checks

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.guard is not None:
            refused = self.guard(request)
            if refused is not None:
                return refused
        path = request.url.path
        prefix = f"/rest/{self.store}/V1/" if self.store else "/rest/V1/"
        if not path.startswith(prefix):
            return error(404, "Request does not match any route.")
        route = path[len(prefix):]
        handler = self.routes.get((request.method, route))
        if handler is not None:
            return handler(request)
        if request.method == "GET" and route in LIST_PATHS:
            return self.search(LIST_PATHS[route], request)
        head, _, ident = route.partition("/")
        if request.method == "GET" and head in ITEM_PATHS and ident and "/" not in ident:
            kind, field = ITEM_PATHS[head]
            found = [e for e in self.entities.get(kind, []) if str(e.get(field)) == unquote(ident)]
            if found:
                return httpx.Response(200, json=found[0])
        return error(404, "The entity that was requested doesn't exist. Verify the entity and try again.")

    def search(self, kind: str, request: httpx.Request) -> httpx.Response:
        query = magento_query(request.url.query.decode("ascii"))
        criteria = query.get("searchCriteria")
        if criteria is None:
            return error(400, "%fieldName is a required field.", {"fieldName": "searchCriteria"})
        criteria = criteria if isinstance(criteria, dict) else {}
        rows = list(self.entities.get(kind, []))
        for group in (criteria.get("filter_groups") or {}).values():
            rows = [r for r in rows if any(_matches(r, f) for f in group.get("filters", {}).values())]
        for order in reversed(list((criteria.get("sortOrders") or {}).values())):
            field, desc = order.get("field"), order.get("direction", "DESC").upper() != "ASC"
            rows.sort(key=lambda r: _compare(r.get(field) or "", "0")[0], reverse=desc)
        total = len(rows)
        echo: dict[str, Any] = {"filter_groups": []}
        if "pageSize" in criteria:
            size = int(criteria["pageSize"])
            page = max(int(criteria.get("currentPage") or 1), 1)
            last = max(math.ceil(total / size), 1)
            if page > last and self.out_of_range == "repeat":
                page = last  # Collection::getCurPage() clamps (reference §A.4)
            rows = rows[(page - 1) * size: page * size]
            echo.update(page_size=size, current_page=page)
        body: dict[str, Any] = {"items": rows, "search_criteria": echo}
        if self.with_total:
            body["total_count"] = total
        return httpx.Response(200, json=body)


def error(status: int, message: str, parameters: Any = None, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"message": message}
    if parameters is not None:
        body["parameters"] = parameters
    return httpx.Response(status, json=body, headers=headers)


def oauth_config(**overrides: Any) -> AdobeConfig:
    values = dict(base_url=BASE, store_code="default", consumer_key="ck-integration", consumer_secret="cs-s3cret-value",
                  access_token="at-token-value", access_token_secret="ats-s3cret-value")
    return AdobeConfig(**{**values, **overrides})


def no_sleep_policy(attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, sleep=lambda _seconds: None)


def client_for(handler: Callable[[httpx.Request], httpx.Response], config: AdobeConfig | None = None,
               **kwargs: Any) -> AdobeClient:
    config = config or oauth_config()
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return AdobeClient(config, http=http, policy=kwargs.pop("policy", no_sleep_policy()), **kwargs)
