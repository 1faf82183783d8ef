"""Reconciliation as a flow, so its table artifact belongs to a run and it can be scheduled
(a nightly deployment is a good habit). The comparison itself is in ops/reconcile.py."""

from pathlib import Path

from prefect import flow

from ..integrations import INTEGRATIONS
from ..ops.reconcile import publish, reconcile
from ..runtime.tenant import tenant as tenant_resources
from ..tasks.run_state import run_name


@flow(name="reconcile", flow_run_name=run_name("reconcile", what="all"))
def reconcile_flow(tenant: str, integrations: list[str] | None = None,
                   out: str = ".ml-connector/reconcile") -> list[dict]:
    """Compare source and target of each integration; publish and return the summaries.

    Args:
        tenant: The tenant whose ledger and systems are compared.
        integrations: Only these integrations (default: every one the tenant configures).
        out: Directory of the CSV files listing each difference.
    """
    res = tenant_resources(tenant)
    from ..integrations import configured

    names = integrations or [n for n, spec in INTEGRATIONS.items() if configured(spec, res.mapping)]
    summaries = [reconcile(res, name, Path(out)) for name in names]
    publish(tenant, summaries)
    return summaries
