"""Which tenants a fan-out run serves: the tenant files that configure an integration, the
credentials blocks they have, and, on a rerun, the tenants the earlier attempt left failed.

Tenant files live in one directory per installation: ``$ML_CONNECTOR_TENANTS``, else
``./tenants`` in the worker's working directory (prefect.yaml's pull step sets it to
``$ML_CONNECTOR_WORKDIR``), else the examples shipped in the repository. A file
``<name>.yaml`` is the tenant ``<name>`` (``mappings/tenant.tenant_path`` finds it by that
name). A tenant takes part in an integration when its file configures it
(``integrations.configured``) and ``ml-connector setup`` saved a block ``<tenant>-<system>``
for each system the integration talks to; a file that configures it without the blocks is
reported as "not set up", never run.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..credentials import block_name
from ..integrations import Integration, configured

log = logging.getLogger("ml_connector.flows.tenant_selection")

TAG_PREFIX = "tenant:"
# The ledger cursor (under the integration's name) holding when a tenant's last completed
# subflow of that integration started: the idle checks run it anyway once that is too old.
LAST_RUN_CURSOR = "tenant-fanout:last-run"


@dataclass(frozen=True)
class Candidate:
    """One tenant considered by a fan-out run: ``problem`` says why it cannot run (no blocks,
    a broken mapping file), None when it can."""

    name: str
    problem: str | None = None


def tenant_directory() -> Path | None:
    """The directory of this installation's tenant files (see the module docstring)."""
    from ..mappings import tenant as tenant_module

    candidates = [Path(os.environ["ML_CONNECTOR_TENANTS"])] if os.environ.get("ML_CONNECTOR_TENANTS") else []
    candidates += [Path.cwd() / "tenants", Path(tenant_module.__file__).resolve().parents[2] / "tenants"]
    return next((folder for folder in candidates if folder.is_dir()), None)


def tenant_names(directory: Path | None = None) -> list[str]:
    """Every tenant with a mapping file, sorted."""
    directory = directory or tenant_directory()
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory else []


def candidates(spec: Integration | None, names: list[str] | None = None) -> list[Candidate]:
    """The tenants whose file configures ``spec`` (every tenant when None), each with the
    problem that keeps it from running, if any. Mapping files are loaded (and cached) through
    ``runtime.tenant``, so the runs that follow reuse them."""
    from ..runtime.tenant import tenant as tenant_resources

    found: list[Candidate] = []
    for name in tenant_names() if names is None else names:
        try:
            mapping = tenant_resources(name).mapping
        except Exception as exc:  # a broken file fails this tenant, not the others
            found.append(Candidate(name, f"mapping file: {_line(exc)}"))
            continue
        if spec is None or configured(spec, mapping):
            found.append(Candidate(name))
    if spec is None or not spec.systems:
        return found
    present = existing_blocks([block_name(c.name, s) for c in found if not c.problem for s in spec.systems])
    out = []
    for c in found:
        missing = [block_name(c.name, s) for s in spec.systems if block_name(c.name, s) not in present]
        out.append(Candidate(c.name, f"not set up: no block {', '.join(missing)} (ml-connector setup)")
                   if missing and not c.problem else c)
    return out


def existing_blocks(names: list[str], chunk: int = 200) -> set[str]:
    """Which of the block document ``names`` exist: one API call per ``chunk`` names."""
    from prefect.client.orchestration import get_client

    found: set[str] = set()
    with get_client(sync_client=True) as client:
        for start in range(0, len(names), chunk):
            part = names[start:start + chunk]
            response = client.request("POST", "/block_documents/filter", json={
                "block_documents": {"name": {"any_": part}}, "include_secrets": False, "limit": len(part)})
            found |= {doc["name"] for doc in response.json()}
    return found


def unfinished_tenants(flow_run_id: str) -> list[str]:
    """Tenants whose latest subflow run under ``flow_run_id`` did not complete (a rerun of the
    parent run re-attempts exactly those)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    flt = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[uuid.UUID(flow_run_id)]))
    latest: dict[str, tuple] = {}
    with get_client(sync_client=True) as client:
        offset = 0
        while page := client.read_flow_runs(flow_run_filter=flt, limit=200, offset=offset):
            offset += len(page)
            for run in page:
                tenant = tenant_of(run.tags)
                stamp = run.start_time or run.created or datetime.min.replace(tzinfo=UTC)
                if tenant and (tenant not in latest or stamp > latest[tenant][0]):
                    latest[tenant] = (stamp, run.state is not None and run.state.is_completed())
    return sorted(t for t, (_, completed) in latest.items() if not completed)


def tenant_of(tags) -> str | None:
    return next((t[len(TAG_PREFIX):] for t in tags or () if t.startswith(TAG_PREFIX)), None)


def last_run(ledger, integration: str) -> datetime | None:
    """When the tenant's last completed subflow of ``integration`` started (None: never)."""
    stored = ledger.get_cursor(integration, LAST_RUN_CURSOR)
    return datetime.fromisoformat(stored) if stored else None


def record_run(ledger, integration: str, started: datetime) -> None:
    ledger.set_cursor(integration, started.isoformat(), LAST_RUN_CURSOR)


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
