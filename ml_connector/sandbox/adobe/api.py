"""The Adobe Commerce emulator's REST routes under ``.../V1/`` (reference §A.6), over one store.

Each route names the ACL resource Magento checks (it appears in the 401 body's
``parameters.resources``) and returns the answer body or raises :class:`AdobeError`. Writes
answer as Magento does: ``POST /V1/order/{id}/invoice`` and ``.../refund`` the new id as a bare
integer, comments and credit-balance operations a bare ``true``, customers the saved customer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import httpx

from . import b2b, search
from .docs import COLUMNS
from .errors import AdobeError, required_input, route_not_found
from .store import AdobeStore


@dataclass
class Context:
    """One request as the routes see it."""

    request: httpx.Request
    store: AdobeStore
    store_view: dict  # the store of the URL's store code (default store when none)
    past_end: str = "repeat"
    input_limits: bool = False

    def body(self) -> Any:
        try:
            return json.loads(self.request.content or b"null", parse_float=Decimal)
        except ValueError:
            raise AdobeError(400, "Decoding error: %1", ["Syntax error"]) from None

    def object(self, key: str) -> dict:
        body = self.body()
        value = body.get(key) if isinstance(body, dict) else None
        if not isinstance(value, dict):
            raise required_input(key)
        return value


def _search(ctx: Context, kind: str, id_key: str = "entity_id") -> dict:
    criteria = search.parse(list(ctx.request.url.params.multi_items()),
                            max_page_size=300 if ctx.input_limits else None)
    if ctx.input_limits and criteria.page_size is None:
        criteria.page_size = 20  # webapi/validation/default_page_size
    rows, total = search.run(criteria, ctx.store.rows(kind), COLUMNS[kind], id_key, ctx.past_end)
    return {"items": rows, "search_criteria": search.echo(criteria), "total_count": total}


def _items(body: Any) -> dict[int, Any] | None:
    items = body.get("items") if isinstance(body, dict) else None
    if not items:
        return None
    return {int(i["order_item_id"]): i.get("qty", 0) for i in items if isinstance(i, dict) and "order_item_id" in i}


def _refund(ctx: Context, order_id: Any, invoice_id: Any = None) -> int:
    body = ctx.body() or {}
    args = body.get("arguments") or {} if isinstance(body, dict) else {}
    memo = ctx.store.refund(order_id, items=_items(body), shipping=args.get("shipping_amount"),
                            adjustment_positive=args.get("adjustment_positive", 0),
                            adjustment_negative=args.get("adjustment_negative", 0), invoice_id=invoice_id)
    return memo["entity_id"]


def _invoice_refund(ctx: Context, invoice_id: str) -> int:
    invoice = ctx.store.get("invoice", invoice_id)
    return _refund(ctx, invoice["order_id"], invoice["entity_id"])


def _comments(ctx: Context, order_id: str) -> dict:
    items = ctx.store.get("order", order_id)["status_histories"]
    return {"items": items, "search_criteria": {"filter_groups": []}, "total_count": len(items)}


def _add_comment(ctx: Context, order_id: str) -> bool:
    ctx.store.add_comment(order_id, ctx.object("statusHistory"))
    return True


def _create_customer(ctx: Context) -> dict:
    view = ctx.store_view
    return ctx.store.create_customer(ctx.object("customer"), website_id=view["website_id"], store_id=view["id"])


def _delete_customer(ctx: Context, customer_id: str) -> bool:
    customer = ctx.store.get("customer", customer_id)
    del ctx.store.tables["customer"][customer["id"]]
    ctx.store.record("customer", customer["id"], "customer_delete_after")
    return True


def _store_views(ctx: Context) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "currency"} for s in ctx.store.stores.values()]


def _store_configs(ctx: Context) -> list[dict]:
    return [{"id": s["id"], "code": s["code"], "website_id": s["website_id"], "locale": "en_US",
             "base_currency_code": s["currency"], "default_display_currency_code": s["currency"],
             "timezone": "UTC", "weight_unit": "lbs"} for s in ctx.store.stores.values()]


def _store_groups(ctx: Context) -> list[dict]:
    return [{"id": w["id"], "website_id": w["id"], "root_category_id": 2, "name": f"{w['name']} Store",
             "code": f"{w['code']}_store",
             "default_store_id": min(s["id"] for s in ctx.store.stores.values() if s["website_id"] == w["id"])}
            for w in ctx.store.websites.values() if any(s["website_id"] == w["id"] for s in ctx.store.stores.values())]


Handler = Callable[..., Any]
_SALES, _CUSTOMER, _B2B_CREDIT = "Magento_Sales::actions_view", "Magento_Customer::customer", "Magento_CompanyCredit::credit"
ROUTES: list[tuple[str, re.Pattern, Handler, str]] = [(m, re.compile(f"^{p}$"), h, r) for m, p, h, r in [
    ("GET", r"orders", lambda c: _search(c, "order"), _SALES),
    ("GET", r"orders/(\d+)", lambda c, i: c.store.get("order", i), _SALES),
    ("GET", r"orders/(\d+)/comments", _comments, _SALES),
    ("POST", r"orders/(\d+)/comments", _add_comment, "Magento_Sales::comment"),
    ("POST", r"orders/(\d+)/cancel", lambda c, i: bool(c.store.cancel(i)), "Magento_Sales::cancel"),
    ("POST", r"orders/(\d+)/hold", lambda c, i: bool(c.store.hold(i)), "Magento_Sales::hold"),
    ("POST", r"orders/(\d+)/unhold", lambda c, i: bool(c.store.unhold(i)), "Magento_Sales::unhold"),
    ("GET", r"invoices", lambda c: _search(c, "invoice"), "Magento_Sales::sales_invoice"),
    ("GET", r"invoices/(\d+)", lambda c, i: c.store.get("invoice", i), "Magento_Sales::sales_invoice"),
    ("POST", r"invoices/(\d+)/capture", lambda c, i: bool(c.store.capture(i)), "Magento_Sales::sales_invoice"),
    ("POST", r"order/(\d+)/invoice",
     lambda c, i: c.store.invoice(i, capture=bool((c.body() or {}).get("capture")))["entity_id"],
     "Magento_Sales::sales_invoice"),
    ("GET", r"creditmemos", lambda c: _search(c, "creditmemo"), "Magento_Sales::sales_creditmemo"),
    ("GET", r"creditmemo/(\d+)", lambda c, i: c.store.get("creditmemo", i), "Magento_Sales::sales_creditmemo"),
    ("POST", r"order/(\d+)/refund", _refund, "Magento_Sales::creditmemo"),
    ("POST", r"invoice/(\d+)/refund", _invoice_refund, "Magento_Sales::creditmemo"),
    ("GET", r"shipments", lambda c: _search(c, "shipment"), "Magento_Sales::shipment"),
    ("GET", r"shipment/(\d+)", lambda c, i: c.store.get("shipment", i), "Magento_Sales::shipment"),
    ("POST", r"order/(\d+)/ship",
     lambda c, i: c.store.ship(i, tracks=(c.body() or {}).get("tracks"))["entity_id"], "Magento_Sales::ship"),
    ("GET", r"customers/search", lambda c: _search(c, "customer", "id"), _CUSTOMER),
    ("GET", r"customers/(\d+)", lambda c, i: c.store.get("customer", i), _CUSTOMER),
    ("POST", r"customers", _create_customer, "Magento_Customer::manage"),
    ("PUT", r"customers/(\d+)", lambda c, i: c.store.update_customer(i, c.object("customer")), "Magento_Customer::manage"),
    ("DELETE", r"customers/(\d+)", _delete_customer, "Magento_Customer::delete"),
    ("GET", r"products", lambda c: _search(c, "product", "id"), "Magento_Catalog::products"),
    ("GET", r"products/([^/]+)", lambda c, sku: c.store.product_by_sku(unquote(sku)), "Magento_Catalog::products"),
    ("GET", r"company/?", lambda c: _search(c, "company", "id"), "Magento_Company::index"),
    ("GET", r"company/(\d+)", lambda c, i: c.store.get("company", i), "Magento_Company::index"),
    ("GET", r"companyCredits/?", lambda c: _search(c, "credit", "id"), _B2B_CREDIT),
    ("GET", r"companyCredits/history", lambda c: _search(c, "credit_history", "id"), _B2B_CREDIT),
    ("GET", r"companyCredits/company/(\d+)", lambda c, i: b2b.credit_of_company(c.store, i), _B2B_CREDIT),
    ("GET", r"companyCredits/(\d+)", lambda c, i: c.store.get("credit", i), _B2B_CREDIT),
    ("PUT", r"companyCredits/(\d+)", lambda c, i: b2b.update_credit(c.store, i, c.body() or {}), _B2B_CREDIT),
    ("POST", r"companyCredits/(\d+)/increaseBalance",
     lambda c, i: b2b.change_balance(c.store, i, c.body() or {}, increase=True), _B2B_CREDIT),
    ("POST", r"companyCredits/(\d+)/decreaseBalance",
     lambda c, i: b2b.change_balance(c.store, i, c.body() or {}, increase=False), _B2B_CREDIT),
    ("GET", r"store/storeViews", _store_views, "Magento_Backend::store"),
    ("GET", r"store/websites", lambda c: list(c.store.websites.values()), "Magento_Backend::store"),
    ("GET", r"store/storeGroups", _store_groups, "Magento_Backend::store"),
    ("GET", r"store/storeConfigs", _store_configs, "Magento_Backend::store"),
]]


def match(method: str, rest: str) -> tuple[Handler, tuple[str, ...], str]:
    """(handler, path arguments, ACL resource) for ``method`` on ``/V1/{rest}``; 404 when none."""
    for route_method, pattern, handler, resource in ROUTES:
        found = pattern.match(rest)
        if found and route_method == method:
            return handler, found.groups(), resource
    raise route_not_found()
