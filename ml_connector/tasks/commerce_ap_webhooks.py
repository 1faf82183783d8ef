"""Prefect tasks over the Adobe webhook inbox of ``commerce-intacct-ap`` (ml_connector/inbox.py;
the webhook service stores one copy of every verified notification per consuming integration)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..inbox import adobe
from ..ledger.store import Claimed
from ..runtime.tenant import tenant as tenant_resources
from .commerce_ap_docs import INTEGRATION
from .ops import finished_runs

INBOX = adobe(INTEGRATION)


def named_entities(claimed: Iterable[Claimed]) -> dict[str, list[str]]:
    """The entity ids claimed notifications name, by kind (``orders``, ``invoices``,
    ``creditmemos``...: sorted, once each), as the webhook service stores them (``kind``, ``ids``)."""
    named: dict[str, list[str]] = {}
    for c in claimed:
        try:
            note = json.loads(c.raw_payload or b"{}")
        except ValueError:
            continue
        if isinstance(note, dict) and note.get("kind"):
            named.setdefault(str(note["kind"]), []).extend(str(i) for i in note.get("ids") or [])
    return {k: sorted(set(v)) for k, v in named.items()}


# Never cached: both change the inbox.
@task(cache_policy=NO_CACHE)
def take_ap_notifications(tenant: str, run_id: str) -> tuple[list[int], dict[str, list[str]]]:
    """Claim this integration's stored notifications: their ledger ids and the entity ids they
    name by kind. Claims held by a run that is over (it crashed or failed between taking and
    finishing them) are taken back at once, others after the intent lease."""
    over = finished_runs.fn(tenant, INBOX.box, run_id)
    claimed = INBOX.take(tenant_resources(tenant).ledger, run_id, finished_runs=over)
    return [c.id for c in claimed], named_entities(claimed)


@task(cache_policy=NO_CACHE)
def finish_ap_notifications(tenant: str, ids: list[int], run_id: str) -> None:
    """Mark notifications handled once the entities they name are in the ledger."""
    INBOX.finish(tenant_resources(tenant).ledger, ids, run_id)
