"""Order to cash: the Intacct AR invoice written back to its Commerce order, as an order comment.

Each posted order gets one follow-up row (ledger integration ``commerce-o2c-writeback``, doc
type ``comment``, key = order entity_id) written through the common intent/outcome path, so a
write-back that failed (Commerce down) is retried by the next run and one that succeeded is
never written twice. ``add_order_comment`` itself skips a comment the order already carries
(a retry after a lost answer), so a write-back a dead run left between intent and outcome is
settled by writing it again: it goes back to received (:func:`write_again`, the write-back
pipeline's ``find`` in pipelines/commerce_o2c.py).
"""

from __future__ import annotations

import json

from prefect import task

from ..connectors.errors import IntegrationError
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.schema import RECEIVED
from ..ledger.store import Claimed, Incoming, Outcome
from ..mappings import commerce_to_intacct_o2c as o2c
from ..mappings.commerce_o2c_rows import FOLLOWUPS, INTEGRATION, loads
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

COMMENT = "comment"


def comment_text(invoice_no: str, recordno: str, entity: str) -> str:
    """What the order history says: enough for someone in Commerce to find the invoice."""
    return f"Sage Intacct AR invoice {invoice_no} (key {recordno}, entity {entity})"


def comment_rows(res: Tenant, limit: int) -> list[Incoming]:
    """The comment rows of up to ``limit`` posted orders that have none yet."""
    rows = res.ledger.posted_without_followup(INTEGRATION, "order", FOLLOWUPS, COMMENT, limit=limit)
    commerce, out = res.commerce("o2c"), []
    for r in rows:
        try:
            entity = o2c.entity_for(loads(r.raw_payload), commerce)
        except IntegrationError:
            entity = "?"
        data = {"order_id": int(r.natural_key), "text": comment_text(r.target_ref or "", r.target_id or "", entity)}
        out.append(Incoming(doc_type=COMMENT, partner=r.partner, natural_key=r.natural_key,
                            source_ref=f"order:{r.natural_key}", raw_payload=json.dumps(data).encode(),
                            target_ref=r.target_id))
    return out


def _write(client, prepared: list[Prepared[dict]]) -> list[WriteResult]:
    out = []
    for p in prepared:
        try:
            client.add_order_comment(p.payload["order_id"], p.payload["text"])
            out.append(WriteResult(ok=True, target_id=str(p.payload["order_id"])))
        except IntegrationError as exc:  # transient -> received again; others fail with the reason
            out.append(WriteResult(ok=False, error=exc))
    return out


def write_again(stale: list[Claimed]) -> list[Outcome]:
    """Comments a dead run left between intent and outcome go back to received: writing one
    again is safe (the order keeps one comment of a text)."""
    return [Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; written again (idempotent)")
            for c in stale]


@task(**retry_options())
def post_comments(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Write the comments ``ids`` to their Commerce orders; counts by outcome."""
    res = tenant_resources(tenant)
    client = res.adobe()

    def build(c: Claimed) -> dict:
        return loads(c.raw_payload)

    return post_documents(res.ledger, FOLLOWUPS, ids, run_id, build=build,
                          write=lambda prepared: _write(client, prepared), batch_size=100)
