"""QuickBooks Online Accounting API v3: thin endpoint methods over one :meth:`QboClient._request`.

Every call goes to ``{base_url}/v3/company/{realm}/...`` with ``minorversion`` (reference
§B.1), through the shared retry layer, and through one classifier for QBO ``Fault`` bodies
(:mod:`.errors`), wherever they appear: in a 4xx, inside an HTTP 200, or per batch item.

Every write carries a ``requestid`` (reference §B.9): QBO answers a repeated id with the
original response instead of writing again, so the retry after a lost response is safe. One id
per logical write, reused on every retry; pass your own (stored in the ledger before the call)
to make it survive a crash too.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from .._http import RetryPolicy, build_client, send
from ._wire import (
    BatchOp,
    CdcResult,
    batch_item,
    batch_response,
    cdc_result,
    check_batch_ids,
    checked_request_id,
    chunk_id,
    dumps,
    entity_name,
    entity_of,
    json_body,
    missing_item,
    query_page,
    quote_literal,
    wire_dict,
)
from .auth import QboConfig, QboOAuth
from .errors import SYSTEM, check
from .models import BatchItemResponse, QboObject
from .pagination import MAX_RESULTS, QueryPage, QueryPaginator
from .tokens import TokenStore

__all__ = ["BatchOp", "CdcResult", "CdcWindowTooLong", "Limiter", "QboClient", "dumps", "quote_literal"]

MAX_BATCH = 30  # the limits page's recommended maximum; the emulator rejects more (§B.7)
CDC_MAX_AGE = timedelta(days=30)
REQUEST_ID_MAX, BATCH_REQUEST_ID_MAX = 50, 36
_PAGING = re.compile(r"\b(STARTPOSITION|MAXRESULTS)\b", re.I)


class Limiter(Protocol):
    """Holds the company's request slots around one HTTP attempt (runtime/qbo_limits.py puts
    Prefect's global concurrency and rate limits here); the connector itself stays Prefect-free."""

    def __call__(self, *, batch: bool) -> contextlib.AbstractContextManager[Any]: ...


class CdcWindowTooLong(ValueError):
    """``changed_since`` is older than QBO's 30-day CDC look-back: backfill with a query instead."""


class QboClient:
    """Thin client of one QBO company. Pass ``http`` to share or mock the transport.

    A client built here owns its ``httpx.Client``; a client passed in is left open and gets a
    :class:`QboOAuth` over ``auth_store`` only if it has no auth of its own.
    """

    system = SYSTEM

    def __init__(self, config: QboConfig, auth_store: TokenStore, http: httpx.Client | None = None,
                 policy: RetryPolicy | None = None, *, clock=time.time, limiter: Limiter | None = None) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self.limiter = limiter
        self._owns_http = http is None
        if http is None:
            auth = QboOAuth(config, auth_store)
            http = build_client(config.base_url, timeout=config.timeout, verify=config.verify, auth=auth)
        elif http.auth is None:
            http.auth = QboOAuth(config, auth_store)
        self.http = http
        self.auth = http.auth

    def __repr__(self) -> str:
        return f"QboClient(realm_id={self.config.realm_id!r}, base_url={self.config.base_url!r})"

    # -- reads --------------------------------------------------------------------------

    def query(self, sql: str, start_position: int | None = None, max_results: int | None = None) -> QueryPage:
        """Run one query statement; with ``start_position``/``max_results``, append the paging."""
        statement = sql.strip()
        if start_position is not None or max_results is not None:
            if _PAGING.search(statement):
                raise ValueError("the statement already has STARTPOSITION/MAXRESULTS")
            start, size = start_position or 1, max_results or MAX_RESULTS
            if start < 1 or not 1 <= size <= MAX_RESULTS:
                raise ValueError(f"start_position is 1-based and max_results 1..{MAX_RESULTS}")
            statement += f" STARTPOSITION {start} MAXRESULTS {size}"
        body = self._request("GET", "query", params={"query": statement}, operation="query")
        return query_page(body, start_position or 1)

    def query_pages(self, entity: str, where: str | None = None, *, page_size: int = MAX_RESULTS,
                    order_by: str | None = None, max_pages: int = 10_000) -> QueryPaginator:
        """The pages of ``SELECT * FROM entity [WHERE where] [ORDERBY order_by]``."""
        sql = f"SELECT * FROM {entity_name(entity)}"
        if where:
            if _PAGING.search(where):
                raise ValueError("paging is added by the paginator; leave it out of 'where'")
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDERBY {order_by}"
        return QueryPaginator(lambda start, size: self.query(sql, start, size), page_size=page_size,
                              max_pages=max_pages)

    def iter_query(self, entity: str, where: str | None = None, page_size: int = MAX_RESULTS, *,
                   order_by: str | None = None, max_pages: int = 10_000) -> Iterator[QboObject]:
        """Every row of the query, page by page (STARTPOSITION/MAXRESULTS, guarded)."""
        for page in self.query_pages(entity, where, page_size=page_size, order_by=order_by, max_pages=max_pages):
            yield from page.rows

    def read(self, entity: str, id: str) -> QboObject:
        """One object by Id; its SyncToken is the one to update with. Missing -> ``NotFound``."""
        body = self._request("GET", f"{entity_name(entity).lower()}/{quote(str(id), safe='')}", operation="read")
        return entity_of(body, entity)

    def find_by_docnumber(self, entity: str, doc_number: str) -> QboObject | None:
        """The object of ``entity`` whose DocNumber is ``doc_number``, or None (first by Id if several)."""
        page = self.query(f"SELECT * FROM {entity_name(entity)} WHERE DocNumber = {quote_literal(doc_number)}", 1, 10)
        rows = sorted(page.rows, key=lambda o: (len(o.id or ""), o.id or ""))
        return rows[0] if rows else None

    def cdc(self, entities: Sequence[str], changed_since: datetime) -> CdcResult:
        """Objects of ``entities`` changed since ``changed_since`` (at most 30 days back)."""
        if changed_since.tzinfo is None:
            raise ValueError("changed_since must be timezone-aware")
        age = datetime.fromtimestamp(self._clock(), changed_since.tzinfo) - changed_since
        if age > CDC_MAX_AGE:
            raise CdcWindowTooLong(
                f"changed_since {changed_since.isoformat()} is {age.days} days ago; QBO CDC looks back at most "
                f"{CDC_MAX_AGE.days} days: backfill with a query on Metadata.LastUpdatedTime instead")
        names = [entity_name(e) for e in entities]
        if not names:
            raise ValueError("cdc needs at least one entity")
        params = {"entities": ",".join(names), "changedSince": changed_since.isoformat()}
        return cdc_result(self._request("GET", "cdc", params=params, operation="cdc"))

    def ping(self) -> None:
        """Check connectivity and credentials: read the company's CompanyInfo."""
        realm = quote(self.config.realm_id, safe="")
        self._request("GET", f"companyinfo/{realm}", operation="ping")

    # -- writes -------------------------------------------------------------------------

    def create(self, entity: str, body: BaseModel | dict, request_id: str | None = None) -> QboObject:
        """Create one object; returns it with Id, SyncToken "0" and what QBO computed."""
        payload = wire_dict(body)
        if payload.get("Id"):
            raise ValueError("create must not carry an Id; use update")
        answer = self._request("POST", entity_name(entity).lower(), body=payload, operation="create",
                               request_id=checked_request_id(request_id, REQUEST_ID_MAX))
        return entity_of(answer, entity)

    def update(self, entity: str, body: BaseModel | dict, request_id: str | None = None, *,
               sparse: bool = True) -> QboObject:
        """Update by Id with the current SyncToken; a stale one raises ``StaleObject``.

        ``sparse=True`` changes only the fields sent (sending ``Line`` replaces all lines);
        ``sparse=False`` is a full update and clears every writable field left out."""
        payload = wire_dict(body)
        if not payload.get("Id") or payload.get("SyncToken") in (None, ""):
            raise ValueError("update needs Id and SyncToken (read the object by Id first)")
        payload["sparse"] = sparse
        answer = self._request("POST", entity_name(entity).lower(), body=payload, operation="update",
                               request_id=checked_request_id(request_id, REQUEST_ID_MAX))
        return entity_of(answer, entity)

    def delete(self, entity: str, id: str, sync_token: str, request_id: str | None = None) -> QboObject:
        """Delete a transaction (lists are deactivated with ``Active: false`` instead)."""
        answer = self._request("POST", entity_name(entity).lower(), body={"Id": id, "SyncToken": sync_token},
                               params={"operation": "delete"}, operation="delete",
                               request_id=checked_request_id(request_id, REQUEST_ID_MAX))
        return entity_of(answer, entity)

    def batch(self, ops: Iterable[BatchOp], request_id: str | None = None) -> list[BatchItemResponse]:
        """Run ``ops`` in batches of at most 30; one result per op, in order, each with its own
        Fault. Items run serially and cannot see objects created earlier in the same batch.

        Chunk requestids derive from ``request_id``: calling again with the same ops and id after
        a failure part-way replays the chunks that had run instead of writing them twice."""
        items = [batch_item(op, n) for n, op in enumerate(ops)]
        check_batch_ids([item["bId"] for item in items])
        base_id = checked_request_id(request_id, BATCH_REQUEST_ID_MAX)
        results: dict[str, BatchItemResponse] = {}
        for n in range(0, len(items), MAX_BATCH):
            chunk = items[n:n + MAX_BATCH]
            answer = self._request("POST", "batch", body={"BatchItemRequest": chunk}, operation="batch",
                                   request_id=chunk_id(base_id, n // MAX_BATCH))
            for raw in answer.get("BatchItemResponse") or []:
                if isinstance(raw, dict) and raw.get("bId") is not None:
                    results[str(raw["bId"])] = batch_response(raw)
        return [results.get(item["bId"]) or missing_item(item["bId"]) for item in items]

    # -- plumbing -----------------------------------------------------------------------

    def _request(self, method: str, path: str, *, operation: str, params: dict[str, str] | None = None,
                 body: Any = None, request_id: str | None = None) -> dict:
        realm = quote(self.config.realm_id, safe="")
        url = f"{self.config.base_url.rstrip('/')}/v3/company/{realm}/{path}"
        query = {**(params or {}), "minorversion": str(self.config.minorversion)}
        if request_id:
            query["requestid"] = request_id  # fixed here, so every retry reuses it
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content, headers["Content-Type"] = dumps(body).encode("utf-8"), "application/json"

        def build() -> httpx.Request:
            return self.http.build_request(method, url, params=query, content=content, headers=headers)

        classify = functools.partial(check, operation=operation)
        limit = functools.partial(self.limiter, batch=path == "batch") if self.limiter else None
        response = send(_FaultsFirst(self.http, classify, limit), build, system=self.system,  # type: ignore[arg-type]
                        operation=operation, check=classify, policy=self.policy)
        return json_body(response, operation)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> QboClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _FaultsFirst:
    """Lets QBO's classifier read a 429's JSON Fault before ``_http``'s status table does.

    ``_http`` hands other 4xx JSON bodies to ``check`` itself, but keeps 429 for its status
    table, which reads Retry-After. QBO's throttling answer carries no Retry-After, only a
    Fault (code 3001) whose documented remedy is to wait a minute; the classifier turns it into
    ``RateLimited(retry_after=60)``. Running it inside ``client.send`` keeps its typed error
    inside ``send``'s retry loop.
    """

    def __init__(self, http: httpx.Client, classify, limit=None) -> None:
        self._http, self._classify, self._limit = http, classify, limit

    def send(self, request: httpx.Request, **options) -> httpx.Response:
        # The company's limits count every attempt, retries included: take the slots here.
        with self._limit() if self._limit else contextlib.nullcontext():
            response = self._http.send(request, **options)
        if 400 <= response.status_code < 500:
            response.read()  # a Fault is a few hundred bytes; the classifier needs it now
            self._classify(response)
        return response
