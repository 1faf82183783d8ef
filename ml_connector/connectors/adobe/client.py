"""Adobe Commerce (Magento 2) REST: thin endpoint methods over one :meth:`AdobeClient._request`.

Every call goes to ``{api_root}V1/<endpoint>`` (PaaS ``/rest[/<store>]/V1``, SaaS
``/<tenant>/V1``), through the shared retry layer and one classifier for Magento error bodies
(:mod:`.errors`). Query strings are built here, RFC 3986-encoded, never by httpx (which would
write spaces as ``+`` and break the OAuth 1.0a signature on Magento's side, see :mod:`.oauth1`).

Magento has no idempotency key. Writes that are not naturally idempotent (an order comment, a
new customer) are sent once per attempt without the transport-level retry, and after an
ambiguous failure (timeout, 5xx: the write may have committed) the client looks for the result
before sending again; PUTs set values and are retried freely.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from .._http import RetryPolicy, build_client, excerpt, register_secret, send
from ..errors import BadDocument, RateLimited, TransientError
from .auth import make_auth
from .changes import MAX_PAGES, OVERLAP, PAGE_SIZE, ChangeFeed
from .config import AdobeConfig
from .errors import SYSTEM, check, json_body
from .kinds import Kind, kind_of, parse_entity, raw_id
from .models import Company, CompanyCredit, CreditMemo, Customer, Invoice, Order, Product, Shipment
from .oauth1 import encode_query
from .pagination import Reject, SearchPage, SearchPaginator, SyncCursor
from .search import Filter, SearchCriteria, format_ts

__all__ = ["AdobeClient", "ID_CHUNK", "dumps"]

ID_CHUNK = 100  # ids per "entity_id in (...)" search: one page, under Magento's optional pageSize cap of 300

_ONE_SHOT = RetryPolicy(attempts=1)


class AdobeClient:
    """Thin client of one Commerce instance. Pass ``http`` to share or mock the transport.

    A client built here owns its ``httpx.Client``; a client passed in is left open and gets
    the auth of ``config``'s mode only if it has none of its own."""

    system = SYSTEM

    def __init__(self, config: AdobeConfig, http: httpx.Client | None = None, policy: RetryPolicy | None = None,
                 *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._owns_http = http is None
        if http is None:
            http = build_client(config.api_root, timeout=config.timeout, verify=config.verify, auth=make_auth(config))
        elif http.auth is None:
            http.auth = make_auth(config)
        self.http = http
        self.auth = http.auth

    def __repr__(self) -> str:
        return f"AdobeClient(api_root={self.config.api_root!r}, mode={self.config.mode!r})"

    # -- reads --------------------------------------------------------------------------

    def search(self, kind: str, criteria: SearchCriteria | None = None) -> SearchPage:
        """One page of ``kind`` matching ``criteria``; unreadable entities come back as rejects."""
        spec = kind_of(kind)
        criteria = criteria or SearchCriteria()
        body = self._request("GET", spec.list_path, params=criteria.to_pairs(), operation=f"search-{spec.name}")
        return _search_page(spec, body, criteria)

    def pages(self, kind: str, criteria: SearchCriteria | None = None, *, page_size: int = PAGE_SIZE,
              max_pages: int = MAX_PAGES) -> SearchPaginator:
        """Every page of a listing, with the loop guards of :class:`SearchPaginator` (changes: :meth:`changes`)."""
        criteria = criteria or SearchCriteria()
        if not criteria.sort:  # a stable order, or offset paging skips and repeats
            criteria = criteria.order_by("entity_id", "ASC")
        return SearchPaginator(lambda n, size: self.search(kind, criteria.page(n, size)),
                               page_size=page_size, max_pages=max_pages)

    def changes(self, kind: str, cursor: str | None = None, *, since: datetime | None = None,
                until: datetime | None = None, overlap: timedelta = OVERLAP, page_size: int = PAGE_SIZE,
                max_pages: int = MAX_PAGES, criteria: SearchCriteria | None = None) -> ChangeFeed:
        """The keyset change feed of ``kind``: ``since <= updated_at < until``, oldest first (then by id).

        ``cursor`` (a page's ``.cursor`` from an earlier run) sets ``since`` to its timestamp
        minus ``overlap``; a backfill passes ``since``/``until`` instead and leaves the live
        cursor alone. ``until`` defaults to now, to the second. ``criteria`` adds filters."""
        spec = kind_of(kind)
        if not spec.incremental:
            raise ValueError(f"{kind} has no updated_at to sync on; list it with pages()")
        start = SyncCursor.decode(cursor) if cursor else None
        if since is None and start is not None:
            since = start.updated_at - overlap
        until = until or datetime.fromtimestamp(int(self._clock()), UTC)
        if since is not None and since >= until:
            raise ValueError(f"empty window: since {since.isoformat()} is not before until {until.isoformat()}")
        return ChangeFeed(lambda c: self.search(kind, c), start=start, since=since, until=until,
                          page_size=page_size, max_pages=max_pages, base=criteria)

    def by_ids(self, kind: str, ids: Iterable[int | str]) -> Iterator[SearchPage]:
        """The entities of ``kind`` with these numeric ids, ``ID_CHUNK`` ids a search; a vanished one is absent."""
        numeric = sorted({str(i) for i in ids if str(i).isdigit()}, key=int)
        for start in range(0, len(numeric), ID_CHUNK):
            chunk = numeric[start:start + ID_CHUNK]
            yield self.search(kind, SearchCriteria().where(Filter("entity_id", chunk, "in")).page(1, len(chunk)))

    def get(self, kind: str, id: int | str) -> Any:
        """One entity by id (by SKU for products); missing -> ``NotFound``, malformed -> ``BadDocument``."""
        spec = kind_of(kind)
        body = self._request("GET", spec.item_path.format(id=_segment(id)), operation=f"get-{spec.name}")
        return parse_entity(spec, body)

    def get_order(self, order_id: int) -> Order:
        return self.get("orders", order_id)

    def get_invoice(self, invoice_id: int) -> Invoice:
        return self.get("invoices", invoice_id)

    def get_credit_memo(self, credit_memo_id: int) -> CreditMemo:
        return self.get("creditmemos", credit_memo_id)

    def get_shipment(self, shipment_id: int) -> Shipment:
        return self.get("shipments", shipment_id)

    def get_customer(self, customer_id: int) -> Customer:
        return self.get("customers", customer_id)

    def get_product(self, sku: str) -> Product:
        return self.get("products", sku)

    def get_company(self, company_id: int) -> Company:
        return self.get("companies", company_id)

    def get_company_credit(self, company_id: int) -> CompanyCredit:
        """The credit line of company ``company_id`` (B2B, PaaS)."""
        body = self._request("GET", f"companyCredits/company/{_segment(company_id)}", operation="get-company-credit")
        return parse_entity("company_credits", body)

    def find_customers(self, email: str, website_id: int | None = None) -> list[Customer]:
        """Customers with exactly this email (one per website at most)."""
        criteria = SearchCriteria().where(Filter("email", email, "eq"))
        if website_id is not None:
            criteria = criteria.where(Filter("website_id", website_id, "eq"))
        return self.search("customers", criteria.page(1, 50)).items

    # -- writes -------------------------------------------------------------------------

    def add_order_comment(self, order_id: int, comment: str, *, status: str | None = None,
                          notify: bool = False, visible_on_front: bool = False) -> bool:
        """Add a comment to an order's history (e.g. the Intacct invoice key written back).

        Returns False when the same comment is already there (a retry after a lost answer),
        True when it was added."""
        if not comment.strip():
            raise ValueError("an order comment needs text")
        history: dict[str, Any] = {"comment": comment, "is_customer_notified": int(notify),
                                   "is_visible_on_front": int(visible_on_front), "parent_id": order_id}
        if status:
            history["status"] = status
        path = f"orders/{_segment(order_id)}/comments"
        if self.get_order(order_id).has_comment(comment):
            return False
        self._write_checked(lambda: self._write("POST", path, {"statusHistory": history}, "add-order-comment"),
                            lambda: self.get_order(order_id).has_comment(comment))
        return True

    def create_customer(self, customer: Customer | dict, password: str | None = None) -> Customer:
        """Create a customer; after an ambiguous failure, the one with the same email is returned."""
        model = customer if isinstance(customer, Customer) else Customer.model_validate(customer)
        body: dict[str, Any] = {"customer": _writable(model)}
        if password:
            register_secret(password)
            body["password"] = password

        def lookup() -> Customer | None:
            found = self.find_customers(model.email, model.website_id)
            return found[0] if found else None

        answer = self._write_checked(lambda: self._write("POST", "customers", body, "create-customer"), lookup)
        return answer if isinstance(answer, Customer) else parse_entity("customers", answer)

    def update_customer(self, customer: Customer) -> Customer:
        """Save a whole customer (PUT sets what it is given; read it first, change, send back)."""
        if customer.id is None:
            raise ValueError("update_customer needs a customer read from Commerce (with id)")
        answer = self._request("PUT", f"customers/{_segment(customer.id)}", body={"customer": _writable(customer)},
                               operation="update-customer")
        return parse_entity("customers", answer)

    def set_customer_attribute(self, customer_id: int, code: str, value: Any) -> Customer:
        """Set one custom attribute (e.g. the Intacct CUSTOMERID) on a customer, keeping the rest."""
        current = self.get_customer(customer_id)
        if current.attribute(code) == value:
            return current
        return self.update_customer(current.with_attribute(code, value))

    def update_company_credit(self, credit_id: int, *, credit_limit: Decimal | None = None,
                              currency_code: str | None = None, exceed_limit: bool | None = None) -> CompanyCredit:
        """Change a company's credit limit settings (``available_limit`` is computed by Commerce)."""
        current = self._credit(credit_id)
        limit = {"id": current.id, "company_id": current.company_id,
                 "credit_limit": current.credit_limit if credit_limit is None else credit_limit,
                 "currency_code": currency_code or current.currency_code,
                 "exceed_limit": current.exceed_limit if exceed_limit is None else exceed_limit}
        answer = self._request("PUT", f"companyCredits/{_segment(credit_id)}", body={"creditLimit": limit},
                               operation="update-company-credit")
        return parse_entity("company_credits", answer) if isinstance(answer, dict) else self._credit(credit_id)

    def change_credit_balance(self, credit_id: int, amount: Decimal, *, operation_type: int, currency: str,
                              comment: str | None = None, purchase_order: str | None = None) -> bool:
        """``increaseBalance`` for a positive ``amount``, ``decreaseBalance`` for a negative one.

        Sent once: Commerce has no way to tell whether a lost balance change was applied, so an
        ambiguous failure is raised for the flow to reconcile against the credit history."""
        if amount == 0:
            raise ValueError("a balance change needs a non-zero amount")
        allowed = {1, 2, 4, 5, 6} if amount > 0 else {2, 3, 4}
        if operation_type not in allowed:
            raise ValueError(f"operationType {operation_type} is not accepted for this direction; one of {sorted(allowed)}")
        options = {k: v for k, v in (("purchase_order", purchase_order),) if v}
        body = {"value": abs(amount), "currency": currency, "operationType": operation_type,
                "comment": comment or "", "options": options}
        action = "increaseBalance" if amount > 0 else "decreaseBalance"
        return self._write("POST", f"companyCredits/{_segment(credit_id)}/{action}", body, "change-credit-balance") is True

    def ping(self) -> None:
        """Check connectivity and credentials: read one order id."""
        self.search("orders", SearchCriteria(extra=(("fields", "items[entity_id],total_count"),)).page(1, 1))

    # -- plumbing -----------------------------------------------------------------------

    def _credit(self, credit_id: int) -> CompanyCredit:
        """A credit line by its own id (``GET /V1/companyCredits/{creditId}``)."""
        return parse_entity("company_credits", self._request("GET", f"companyCredits/{_segment(credit_id)}",
                                                             operation="get-company-credit"))

    def _write(self, method: str, path: str, body: Any, operation: str) -> Any:
        """One non-idempotent write: only throttling (nothing committed) is retried here."""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return self._request(method, path, body=body, operation=operation, policy=_ONE_SHOT)
            except RateLimited as exc:
                if attempt == self.policy.attempts:
                    raise
                self.policy.sleep(self.policy.delay(attempt, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_checked(self, write: Callable[[], Any], lookup: Callable[[], Any]) -> Any:
        """``write``; after an ambiguous failure (timeout, 5xx: it may have committed), ``lookup``
        the result and return it if found, else write again. Throttling is retried by ``write``."""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return write()
            except TransientError as exc:
                if isinstance(exc, RateLimited) or attempt == self.policy.attempts:
                    raise
                self.policy.sleep(self.policy.delay(attempt, exc))
                found = lookup()
                if found:
                    return found
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(self, method: str, path: str, *, operation: str, params: list[tuple[str, str]] | None = None,
                 body: Any = None, policy: RetryPolicy | None = None) -> Any:
        url = self.config.api_root + "V1/" + path
        if params:
            url += "?" + encode_query(params)
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content, headers["Content-Type"] = dumps(body).encode("utf-8"), "application/json"

        def build() -> httpx.Request:
            return self.http.build_request(method, url, content=content, headers=headers)

        response = send(self.http, build, system=self.system, operation=operation,
                        check=functools.partial(check, operation=operation), policy=policy or self.policy)
        return json_body(response, operation)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> AdobeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def dumps(body: Any) -> str:
    """JSON for Magento: ``Decimal`` as a JSON number, datetimes as Magento timestamps."""
    return json.dumps(body, default=_encode, separators=(",", ":"))


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, datetime):
        return format_ts(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    raise TypeError(f"cannot encode {type(value).__name__} for Adobe Commerce")


def _writable(customer: Customer) -> dict[str, Any]:
    """A customer as a request body: read-only timestamps left out (Commerce sets them)."""
    data = customer.to_wire()
    for name in ("created_at", "updated_at"):
        data.pop(name, None)
    return data


def _segment(value: int | str) -> str:
    text = str(value)
    if not text or text in (".", ".."):
        raise ValueError(f"not a usable id: {value!r}")
    return quote(text, safe="")


def _search_page(spec: Kind, body: Any, criteria: SearchCriteria) -> SearchPage:
    if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
        raise TransientError(f"Adobe Commerce {spec.name} search answered without an items list",
                             system=SYSTEM, operation=f"search-{spec.name}", body_excerpt=excerpt(dumps(body)))
    raw_items = body.get("items") or []  # some versions send null for no matches
    items, rejects, keys = [], [], []
    for raw in raw_items:
        key = raw_id(spec, raw)
        if key is not None:
            keys.append(key)
        try:
            items.append(parse_entity(spec, raw))
        except BadDocument as exc:  # one bad entity is quarantined; the page goes on
            rejects.append(Reject(key=key, raw=raw, error=exc))
    total = body.get("total_count")
    echo = body.get("search_criteria")
    if not isinstance(echo, dict):
        echo = {}
    return SearchPage(kind=spec.name, items=items, rejects=rejects,
                      total_count=int(total) if isinstance(total, (int, Decimal, str)) and str(total).isdigit() else None,
                      current_page=criteria.current_page or int(echo.get("current_page") or 1),
                      page_size=criteria.page_size, received=len(raw_items), keys=tuple(keys))
