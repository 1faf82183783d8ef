"""The two hashes a document carries: its content hash and the idempotency key of its write."""

from __future__ import annotations

import hashlib


def payload_hash(payload: bytes | None) -> str | None:
    """What identifies a revision: the same bytes read again are the same revision."""
    return hashlib.sha256(payload).hexdigest() if payload is not None else None


def idempotency_key(tenant: str, integration: str, doc_type: str, partner: str, natural_key: str,
                    generation: int = 0, revision: int = 1) -> str:
    """The one key a document's write carries on every retry (Intacct function controlid,
    QBO requestid). A replay after a definite failure, or a resend on purpose, starts a new
    generation. The tenant is part of it: two companies posting the same partner's document
    number into one target must not be taken for retries of each other. So is the revision
    (from 2 on, inside the digest so the key keeps its length for the targets' limits): the
    update of revision 2 is a write of its own, never taken for a retry of revision 1's create,
    and revision 1 keeps the key it always had."""
    material = f"{tenant}|{integration}|{doc_type}|{partner}|{natural_key}"
    if revision > 1:
        material += f"|revision {revision}"
    digest = hashlib.sha256(material.encode()).hexdigest()[:32]
    return f"mlc-{digest}" + (f"-r{generation}" if generation else "")
