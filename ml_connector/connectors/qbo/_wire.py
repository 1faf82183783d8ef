"""QBO wire helpers, pure: JSON encoding, query literals, request ids, and the parsing of
query, batch and CDC answers into models. No I/O here; :mod:`.client` does the calls."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel

from .._http import excerpt
from ..errors import TransientError
from .errors import SYSTEM, find_fault, loads
from .models import BatchItemResponse, QboObject, parse_entity
from .pagination import QueryPage

CDC_MAX_OBJECTS = 1000  # shared across all entities of one CDC call
BATCH_ID_MAX = 10
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class BatchOp:
    """One batch item: ``create``/``update``/``delete`` of ``entity`` with ``body``, or ``query``
    with the statement as ``body``. ``b_id`` defaults to the op's position (``b0``, ``b1``...)."""

    operation: str
    entity: str | None = None
    body: Any = None
    b_id: str | None = None
    sparse: bool = True


@dataclass(frozen=True)
class CdcResult:
    """A CDC answer: changed objects (deleted ones have ``status == "Deleted"``) per entity.

    ``capped`` means QBO's 1000-object limit was reached and some changes may be missing:
    ask again entity by entity or with a shorter window."""

    objects: dict[str, list[QboObject]]
    time: str | None = None

    @property
    def total(self) -> int:
        """How many objects came back, across entities."""
        return sum(len(rows) for rows in self.objects.values())

    @property
    def capped(self) -> bool:
        return self.total >= CDC_MAX_OBJECTS

    def changed(self, entity: str) -> list[QboObject]:
        """The changed (not deleted) objects of ``entity``."""
        return [o for o in self.objects.get(entity, []) if not o.deleted]

    def deleted(self, entity: str) -> list[str]:
        """The Ids of deleted objects of ``entity``."""
        return [o.id for o in self.objects.get(entity, []) if o.deleted and o.id]


def dumps(body: Any) -> str:
    """JSON for QBO: ``Decimal`` as a JSON number (QBO wants numbers), dates as ISO strings."""
    return json.dumps(body, default=_encode, separators=(",", ":"))


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        # float's shortest repr gives back the same decimal digits for any amount with at most
        # 15 significant digits, which covers money.
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True)
    raise TypeError(f"cannot encode {type(value).__name__} for QBO")


def quote_literal(value: str) -> str:
    """A string literal for a QBO query: single quotes, with ``\\`` and ``'`` backslash-escaped."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def entity_name(entity: str) -> str:
    """``entity`` if it is a plain entity name (it goes into paths and statements), else ValueError."""
    if not _NAME.match(entity or ""):
        raise ValueError(f"not a QBO entity name: {entity!r}")
    return entity


def wire_dict(body: BaseModel | dict) -> dict:
    """A request body as a dict of wire (PascalCase) keys."""
    if isinstance(body, BaseModel):
        return body.model_dump(by_alias=True, exclude_none=True)
    return dict(body)


def checked_request_id(value: str | None, limit: int) -> str:
    """``value`` or a new UUID, refused when longer than QBO allows here."""
    request_id = value or str(uuid.uuid4())
    if len(request_id) > limit:
        raise ValueError(f"QBO requestid is at most {limit} characters here, got {len(request_id)}")
    return request_id


def chunk_id(base: str, n: int) -> str:
    """The requestid of batch chunk ``n``."""
    # Chunk 0 keeps the caller's id (it shows in QBO's logs); the others derive from it
    # deterministically, so retrying the whole batch call replays every chunk.
    return base if n == 0 else str(uuid.uuid5(uuid.NAMESPACE_URL, f"qbo-batch:{base}:{n}"))


def batch_item(op: BatchOp | dict, n: int) -> dict:
    """The wire form of one batch op, with its bId."""
    if isinstance(op, dict):
        return {"bId": f"b{n}", **op}
    b_id = op.b_id or f"b{n}"
    if op.operation == "query":
        return {"bId": b_id, "Query": str(op.body)}
    if op.operation not in ("create", "update", "delete") or not op.entity:
        raise ValueError(f"batch op {b_id}: operation must be create/update/delete/query with an entity")
    payload = wire_dict(op.body)
    if op.operation == "update":
        payload["sparse"] = op.sparse
    return {"bId": b_id, "operation": op.operation, entity_name(op.entity): payload}


def check_batch_ids(ids: list[str]) -> None:
    """Refuse duplicate or over-long bIds before sending anything."""
    if len(set(ids)) != len(ids):
        raise ValueError("batch bIds must be unique")
    too_long = [b for b in ids if len(str(b)) > BATCH_ID_MAX]
    if too_long:  # QBO limits bId to 10 characters when the batch has a requestid (ours always do)
        raise ValueError(f"batch bIds are at most {BATCH_ID_MAX} characters: {too_long[:3]}")


def batch_response(raw: dict) -> BatchItemResponse:
    """One ``BatchItemResponse`` element as a model."""
    b_id = str(raw["bId"])
    fault = find_fault(raw)
    if fault is not None:
        return BatchItemResponse(b_id=b_id, fault=fault)
    if isinstance(raw.get("QueryResponse"), dict):
        return BatchItemResponse(b_id=b_id, query_response=raw["QueryResponse"])
    entity = next((k for k, v in raw.items() if k not in ("bId", "time") and isinstance(v, dict)), None)
    obj = parse_entity(entity, raw[entity]) if entity else None
    return BatchItemResponse(b_id=b_id, entity=entity, object=obj)


def missing_item(b_id: str) -> BatchItemResponse:
    """The result for an op QBO did not answer: a SystemFault, hence transient."""
    fault = {"Error": [{"Message": "QBO returned no response for this batch item", "code": None}],
             "type": "SystemFault"}
    return BatchItemResponse(b_id=b_id, fault=fault)


def json_body(response: httpx.Response, operation: str) -> dict:
    """The JSON object of a response (numbers as Decimal); unreadable -> TransientError."""
    try:
        body = loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransientError("QBO answered with a body we cannot read", system=SYSTEM, operation=operation,
                             status=response.status_code, request_id=response.headers.get("intuit_tid"),
                             body_excerpt=excerpt(response.content))
    return body


def entity_of(body: dict, entity: str) -> QboObject:
    """The ``entity`` object of an answer such as ``{"PurchaseOrder": {...}, "time": ...}``."""
    data = body.get(entity)
    if not isinstance(data, dict):
        raise TransientError(f"QBO answer has no {entity} object", system=SYSTEM, body_excerpt=excerpt(dumps(body)))
    return parse_entity(entity, data)


def query_page(body: dict, start_position: int) -> QueryPage:
    """A ``QueryResponse`` answer as a :class:`QueryPage`."""
    answer = body.get("QueryResponse")
    answer = answer if isinstance(answer, dict) else {}
    # With zero rows the entity key is absent altogether (reference §B.5).
    entity = next((k for k, v in answer.items() if isinstance(v, list)), None)
    rows = [parse_entity(entity, r) for r in answer.get(entity, []) if isinstance(r, dict)] if entity else []
    total = answer.get("totalCount")
    return QueryPage(entity=entity, rows=rows, start_position=int(answer.get("startPosition") or start_position),
                     max_results=int(answer.get("maxResults") or len(rows)),
                     total_count=int(total) if total is not None else None)


def cdc_result(body: dict) -> CdcResult:
    """A ``CDCResponse`` answer as a :class:`CdcResult`."""
    objects: dict[str, list[QboObject]] = {}
    for block in body.get("CDCResponse") or []:
        for answer in (block or {}).get("QueryResponse") or []:
            for entity, rows in (answer or {}).items():
                if isinstance(rows, list):
                    objects.setdefault(entity, []).extend(parse_entity(entity, r) for r in rows if isinstance(r, dict))
    return CdcResult(objects=objects, time=body.get("time"))
