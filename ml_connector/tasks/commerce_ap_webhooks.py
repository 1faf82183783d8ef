"""Prefect tasks over the Adobe webhook inbox of ``commerce-intacct-ap`` (webhooks/adobe.py
stores one copy of every verified notification per consuming integration)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..webhooks.adobe import finish_notifications, inbox, take_notifications
from .commerce_ap_docs import INTEGRATION
from .ops import finished_runs
from .resources import tenant as tenant_resources


# Never cached: both change the inbox.
@task(cache_policy=NO_CACHE)
def take_ap_notifications(tenant: str, run_id: str) -> tuple[list[int], dict[str, list[str]]]:
    """Claim this integration's stored notifications: their ledger ids and the entity ids they
    name by kind. Claims held by a run that is over (it crashed or failed between taking and
    finishing them) are taken back at once, others after the intent lease."""
    over = finished_runs.fn(tenant, inbox(INTEGRATION), run_id)
    return take_notifications(tenant_resources(tenant).ledger, INTEGRATION, run_id, finished_runs=over)


@task(cache_policy=NO_CACHE)
def finish_ap_notifications(tenant: str, ids: list[int], run_id: str) -> None:
    """Mark notifications handled once the entities they name are in the ledger."""
    finish_notifications(tenant_resources(tenant).ledger, INTEGRATION, ids, run_id)
