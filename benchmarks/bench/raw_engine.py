"""The engine's run of one pipeline without Prefect: what the product does, minus the flow and
task runs, the run logger and the report's artifacts.

:func:`raw_run` is ``engine.run.run`` step for step (a retried run's replay, recovery through
the pipeline's ``find``, the ``before`` steps, the inbox, the page loop, the drain, the
follow-ups, the report), and it runs the engine's own page loop, inbox step and drain with the
pipeline's own parts: only the Prefect tasks they call run as their functions
(``task_functions``). So the raw run sends the same HTTP requests and makes the same ledger
writes as the product by construction (``suite.assert_same_work`` checks it on every repeat).
"""

from __future__ import annotations

import dataclasses
import uuid

from .task_functions import plain, tasks_as_functions


def raw_run(pipeline, tenant: str, page_size: int = 500) -> dict:
    """Run ``pipeline`` live for ``tenant`` as ``engine.run`` does, without Prefect; return the
    counts the product's flow returns (``publish_report``'s, with the run's figures)."""
    from ml_connector.engine import Run
    from ml_connector.engine.inbox import read_inbox
    from ml_connector.engine.pages import drain, read_pages
    from ml_connector.engine.recovery import recover_intents
    from ml_connector.tasks.ops import finished_runs
    from ml_connector.tasks.run_state import replay_earlier_attempts

    this = Run(tenant, pipeline.name, f"raw-{uuid.uuid4()}", page_size=page_size)
    with tasks_as_functions() as pool:
        # the pipeline's post and settle tasks are fields, not module globals: run them as functions too
        raw = dataclasses.replace(pipeline, post=plain(pipeline.post, pool), settle=plain(pipeline.settle, pool))
        retried = replay_earlier_attempts.fn(tenant, raw.name, this.run_id)
        figures = dict(recover_intents.fn(raw, this, finished_runs.fn(tenant, raw.name, this.run_id)))
        for step in raw.before:
            figures.update(step(this))
        if raw.inbox is not None:
            figures.update(read_inbox(raw, this))
        figures.update(read_pages(raw, this))
        figures.update(drain(raw, this) or {})
        for step in raw.followups:
            figures.update(step(this))
        if raw.report is not None:
            figures.update(raw.report(this))
    return raw_report(tenant, raw.name, this.run_id, {**figures, "retried": retried})


def raw_report(tenant: str, integration: str, run_id: str, extra: dict) -> dict:
    """``run_state.finish_run``'s ledger work (the run's counts and failures), without the
    Prefect artifacts and the run state."""
    from ml_connector.runtime.tenant import tenant as tenant_resources
    from ml_connector.tasks.ops import publish_report

    counts = publish_report.fn(tenant, integration, run_id, extra)
    tenant_resources(tenant).ledger.run_failures(integration, run_id)
    return counts
