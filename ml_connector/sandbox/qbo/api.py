"""The QBO emulator's API routes, as functions of one realm's store (reference §B.4-B.7).

Each route returns the answer body for an HTTP 200 or raises :class:`QboFault`; the emulator
turns that into the Fault answer and caches either under the ``requestid``.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import httpx

from . import query as qlang
from .store import CDC_LOOKBACK, ENTITIES, LISTS, QboFault, RealmStore, required

PATHS = {e.lower(): e for e in ENTITIES}  # lower-case path segment -> entity name
MAX_BATCH, BATCH_ID_MAX = 30, 10


def invalid(detail: str) -> QboFault:
    return QboFault(400, "2010", "Request has invalid or unsupported property", detail)


def route(request: httpx.Request, store: RealmStore, rest: str) -> dict:
    """The answer to ``request`` on ``/v3/company/{realm}/{rest}``."""
    method, parts = request.method, rest.split("/")
    if rest == "query":
        text = request.url.params.get("query") if method == "GET" else request.content.decode("utf-8")
        return {"QueryResponse": query(store, text or ""), "time": store.now()}
    if rest == "cdc" and method == "GET":
        return cdc(request, store)
    if rest == "batch" and method == "POST":
        return batch(request, store)
    if parts[0] == "companyinfo" and method == "GET":
        return {"CompanyInfo": {"Id": "1", "CompanyName": f"Sandbox Company {store.realm_id}",
                                "Country": "US", "SyncToken": "0"}, "time": store.now()}
    entity = PATHS.get(parts[0])
    if entity is not None and len(parts) == 2 and method == "GET":
        return {entity: store.read(entity, parts[1]), "time": store.now()}
    if entity is not None and len(parts) == 1 and method == "POST":
        body = json_body(request)
        operation = request.url.params.get("operation") or ("update" if body.get("Id") else "create")
        return {entity: write(store, entity, operation, body), "time": store.now()}
    raise QboFault(400, "500", "Unsupported Operation", f"Operation {method} {rest} is not supported.")


def write(store: RealmStore, entity: str, operation: str, body: dict) -> dict:
    if operation == "create":
        return store.create(entity, body)
    if operation == "update":
        return store.update(entity, body)
    if operation == "delete":
        return store.delete(entity, body)
    if operation == "void":
        return store.void(entity, body)
    raise invalid(f"unknown operation {operation!r}")


def query(store: RealmStore, text: str) -> dict:
    """The ``QueryResponse`` object of one statement."""
    try:
        parsed = qlang.parse(text, PATHS)
    except qlang.QueryError as exc:
        raise QboFault(400, "4000", "Error parsing query", str(exc)) from None
    rows, total = qlang.run(parsed, store.rows(parsed.entity), parsed.entity in LISTS)
    if parsed.count:
        return {"totalCount": total}
    if not rows:  # zero rows: the entity key is absent (reference §B.5)
        return {}
    # maxResults is the number of rows returned, not the page size asked for
    return {parsed.entity: rows, "startPosition": parsed.start, "maxResults": len(rows)}


def cdc(request: httpx.Request, store: RealmStore) -> dict:
    params = request.url.params
    names = [n.strip() for n in params.get("entities", "").split(",") if n.strip()]
    entities = [PATHS.get(n.lower()) for n in names]
    if not names or None in entities:
        raise invalid(f"entities must list supported entities, got {params.get('entities')!r}")
    try:
        since = datetime.fromisoformat(params.get("changedSince", "").replace("Z", "+00:00"))
    except ValueError:
        raise required("changedSince") from None
    since = since if since.tzinfo else since.replace(tzinfo=store.tz)
    if datetime.fromtimestamp(store.clock(), store.tz) - since > CDC_LOOKBACK:
        raise invalid("changedSince must be within the last 30 days")
    return {"CDCResponse": [{"QueryResponse": store.cdc(entities, since)}], "time": store.now()}  # type: ignore[arg-type]


def batch(request: httpx.Request, store: RealmStore) -> dict:
    """Up to 30 items, run serially; each answers with its object or its own Fault."""
    items = json_body(request).get("BatchItemRequest")
    if not isinstance(items, list) or not items:
        raise invalid("BatchItemRequest is empty")
    if len(items) > MAX_BATCH:
        raise invalid(f"A batch holds at most {MAX_BATCH} items, got {len(items)}")
    ids = [str(i.get("bId") or "") for i in items if isinstance(i, dict)]
    limit = BATCH_ID_MAX if request.url.params.get("requestid") else 50
    if len(ids) != len(items) or "" in ids or len(set(ids)) != len(ids) or max(map(len, ids)) > limit:
        raise invalid(f"every item needs a unique bId of at most {limit} characters")
    store.visible_seq = store.seq  # items cannot see objects created earlier in the batch
    try:
        answers = [batch_item(store, item) for item in items]
    finally:
        store.visible_seq = None
    return {"BatchItemResponse": answers, "time": store.now()}


def batch_item(store: RealmStore, item: dict) -> dict:
    b_id = item["bId"]
    try:
        if "Query" in item:
            return {"bId": b_id, "QueryResponse": query(store, str(item["Query"]))}
        key = next((k for k in item if k.lower() in PATHS), None)
        if key is None or not isinstance(item[key], dict):
            raise invalid("no entity in batch item")
        entity = PATHS[key.lower()]
        return {"bId": b_id, entity: write(store, entity, str(item.get("operation") or ""), item[key])}
    except QboFault as fault:
        return {"bId": b_id, "Fault": fault.fault()}


def json_body(request: httpx.Request) -> dict:
    try:
        body = json.loads(request.content or b"{}", parse_float=Decimal)
    except ValueError:
        raise invalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise invalid("the body is not an object")
    return body
