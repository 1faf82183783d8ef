"""What a partner's Sterling Outbox message becomes in the ledger, and what its 997 says. Pure.

Every message read becomes rows (integration ``sterling-inbound``): a 997 to apply (received,
keyed by the interchange's sender and control number), each other transaction set stored for
the flows that consume it (skipped, "stored"), or the whole message quarantined with the
reason when it cannot be read. Nothing read is dropped.
"""

from __future__ import annotations

from ..connectors import x12
from ..connectors.errors import BadDocument, one_line
from ..connectors.sterling import partner_outbox
from ..ledger.schema import QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Incoming

ACK = "997"
ACCEPTED_STATUSES = ("accepted", "accepted_with_errors")


def message_ref(partner: str, name: str, message_id: str) -> str:
    """Where a message was read: the partner's Outbox, its name and Sterling's message id."""
    return f"{partner_outbox(partner)}/{name}#{message_id}"


def message_rows(partner: str, message_id: str, name: str, content: bytes, error: str | None = None) -> list[Incoming]:
    """The rows of one message; ``error`` says why its content could not be downloaded."""
    ref = message_ref(partner, name, message_id)
    if error is None:
        try:
            interchange = x12.parse(content)
        except BadDocument as exc:
            error = one_line(exc)
    if error is not None:
        return [Incoming(doc_type="x12", partner=partner, natural_key=f"message:{message_id}", source_ref=ref,
                         raw_payload=content, status=QUARANTINED, error_class="bad_document", last_error=error)]
    key = f"{interchange.sender_id}:{interchange.control_number:09d}"
    rows = []
    if any(ts.id == ACK for g in interchange.groups for ts in g.sets):
        rows.append(Incoming(doc_type=ACK, partner=partner, natural_key=key, source_ref=ref, raw_payload=content,
                             status=RECEIVED))
    for group in interchange.groups:
        for ts in group.sets:
            if ts.id != ACK:
                rows.append(_stored(partner, key, ref, content, group, ts))
    return rows


def _stored(partner: str, key: str, ref: str, content: bytes, group, ts) -> Incoming:
    try:
        doc = x12.decode_document(ts)
    except BadDocument as exc:
        return Incoming(doc_type=ts.id, partner=partner, natural_key=f"{key}:{group.control_number}:{ts.control_number}",
                        source_ref=ref, raw_payload=content, status=QUARANTINED, error_class="bad_document",
                        last_error=one_line(exc))
    number = getattr(doc, "po_number", None) or getattr(doc, "invoice_number", None) or ts.control_number
    return Incoming(doc_type=ts.id, partner=partner, natural_key=str(number), source_ref=f"{ref}:{ts.control_number}",
                    raw_payload=content, status=SKIPPED, error_class="stored",
                    last_error=f"inbound {ts.id} stored for the flows that consume it (none routes it yet)")


def ack_verdicts(content: bytes) -> list[x12.AckResult]:
    """Every verdict of the 997s in a stored message; BadDocument when it holds none readable."""
    return x12.read_997(x12.parse(content or b""))


def accepted(verdict) -> bool:
    return verdict.status in ACCEPTED_STATUSES
