"""Tasks about runs themselves: which runs are over, and the report every run publishes."""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
import uuid
from datetime import UTC, datetime

from prefect import task

from ..runtime.tenant import tenant as tenant_resources

log = logging.getLogger("ml_connector.tasks.ops")


def artifact_key(tenant: str, name: str) -> str:
    """The key of one tenant's artifact ``name``: Prefect keys allow lowercase letters, digits
    and dashes only. A tenant name that had to change to fit carries a digest of the original,
    so two tenants ("Acme_Co", "acme-co") never write over each other's report."""
    slug = re.sub(r"[^a-z0-9]+", "-", tenant.lower()).strip("-")
    if slug != tenant:
        slug = "-".join(filter(None, (slug, hashlib.sha256(tenant.encode()).hexdigest()[:8])))
    return f"{slug}-{name}"


def tenant_tag(tenant: str) -> str:
    """The tag every flow run of a tenant's work carries: the per-tenant automations match it."""
    return f"tenant:{tenant}"


def replay_command(tenant: str, integration: str, doc_id: int) -> str:
    """The command that replays one document, as an operator would type it."""
    return f"ml-connector replay --tenant {shlex.quote(tenant)} --integration {integration} --id {doc_id}"


def _run_is_over(client, run_id: str) -> bool:
    """Whether the run holding intents is over: a flow run, or the task run of a webhook
    delivery (tasks/qbo_webhook.py), which holds intents under its task run id."""
    try:
        run_uuid = uuid.UUID(run_id)
    except ValueError:  # not a Prefect run (a script's run id): nobody owns it
        return True
    for read in (client.read_flow_run, client.read_task_run):
        try:
            run = read(run_uuid)
        except Exception:  # not this kind of run, or already deleted
            continue
        return run.state is None or run.state.is_final()
    return True


@task
def finished_runs(tenant: str, integration: str, current_run: str) -> list[str]:
    """Runs that hold unresolved intents and can no longer resolve them themselves.

    The current run is included: a rerun of a failed flow run keeps its id, and at the start
    of a run nothing of its own is in flight, so its old intents are stale too."""
    from prefect.client.orchestration import get_client

    holders = tenant_resources(tenant).ledger.intent_runs(integration)
    if not holders:
        return []
    with get_client(sync_client=True) as client:
        return [r for r in holders if r == current_run or _run_is_over(client, r)]


@task
def publish_report(tenant: str, integration: str, run_id: str, extra: dict | None = None) -> dict:
    """The run's counts from the ledger's events of this run, with ``extra`` figures the flow adds.

    The counts are a query over this run's ledger events, so the report matches the ledger
    exactly; on a retried run (which keeps its id) only this attempt's events count. The
    artifacts are published by ``run_state.finish_run`` from the flow itself, so they belong
    to the flow run rather than to this task run."""
    counts = tenant_resources(tenant).ledger.run_counts(integration, run_id, since=attempt_started())
    return {**counts, **(extra or {})}


def attempt_started() -> datetime | None:
    """When this attempt of a retried flow run started, by this process's clock (the clock the
    ledger's events are stamped with); None on a first attempt, whose events are all its own."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.run_count <= 1:
        return None
    return datetime.fromtimestamp(context.start_time.timestamp(), UTC)
