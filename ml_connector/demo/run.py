"""``ml-connector demo``: the whole product against the embedded sandbox.

Emulators are served over real HTTP on loopback, credentials are saved as Prefect blocks, and
every integration runs as a Prefect flow against a local Prefect server (the one in
``PREFECT_API_URL`` when set, otherwise a temporary one for the demo's duration). A run that
fails is rerun, as an operator would from the UI, until the sandbox is drained; then the
targets are reconciled against what was seeded.

``tenants=N`` runs N tenants at once on the same ledger and Prefect server, each with its own
companies (one ``DemoWorld`` each, see world.py): the first is today's demo, the others
have the same partner ids and document numbers at other prices, under the names ``<name>-k``
(mapping files copied into the workdir's ``tenants`` folder). Each tenant is reconciled on its
own, and every target is checked for another tenant's documents.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Prefect reads its home and our task retry delays at import: set them before importing either.
_DEMO_RETRY_DELAYS = "0.5,1,2"
# The SPS sandbox serves its history at once (SpsEmulator's history_lag 0), not within SPS's five
# minutes: an upload whose answer was lost is looked up a second later, not 330 s later
# (connectors/sps/delivery.history_lag), or the demo's reruns would end before it can tell.
_DEMO_SPS_HISTORY_LAG = "1"


def prepare_environment(workdir: Path) -> None:
    os.environ["ML_CONNECTOR_HOME"] = str(workdir)
    os.environ["ML_CONNECTOR_LEDGER_URL"] = f"sqlite:///{workdir / 'ledger.db'}"
    os.environ.setdefault("ML_CONNECTOR_TASK_RETRY_DELAYS", _DEMO_RETRY_DELAYS)
    os.environ.setdefault("ML_CONNECTOR_SPS_HISTORY_LAG", _DEMO_SPS_HISTORY_LAG)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if "PREFECT_API_URL" not in os.environ:
        os.environ["PREFECT_HOME"] = str(workdir / "prefect")


@contextlib.contextmanager
def prefect_api():
    """Use the configured Prefect server, or start a local one for the demo's duration."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=120)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        server.stop()


def run_until_drained(flow_fn, tenant: str, integration: str, attempts: int = 6,
                      source_drained=lambda: True) -> list[dict]:
    """Run a flow; rerun it after a failure (as an operator would) or while the source still
    holds documents (as the schedule would), until a run completes with nothing left pending.
    Returns one record per run: its id, final state and counts."""
    from ..runtime.tenant import tenant as tenant_resources

    ledger = tenant_resources(tenant).ledger
    runs = []
    for _ in range(attempts):
        state = flow_fn(tenant=tenant, return_state=True)
        run_id = str(state.state_details.flow_run_id)
        runs.append({"run_id": run_id, "state": state.type.value, "counts": ledger.run_counts(integration, run_id)})
        pending = ledger.status_counts(integration)
        if state.is_completed() and not pending.get("received") and not pending.get("posting") and source_drained():
            break
        time.sleep(1)
    return runs


def demo_parts() -> list:
    """Every integration's demo part, in the order the demo runs them."""
    from .parts import all_parts
    from .parts.commerce_intacct_ap import CommerceIntacctApPart
    from .parts.commerce_intacct_o2c import CommerceIntacctO2cPart

    parts = all_parts()
    if not any(isinstance(p, CommerceIntacctO2cPart) for p in parts):  # Adobe Commerce order to cash
        parts.append(CommerceIntacctO2cPart())
    if not any(isinstance(p, CommerceIntacctApPart) for p in parts):  # Adobe Commerce payables, after o2c:
        parts.append(CommerceIntacctApPart())  # it seeds items with stock that purchase orders name too
    return parts


@contextlib.contextmanager
def tenant_files(folder: Path, bases: list[str], count: int):
    """The mapping files of ``count`` copies of the tenants ``bases`` in ``folder`` (the first
    copy as found, copy k under the name ``<base>-k``: the same file with its ``tenant:``
    changed), with ``ML_CONNECTOR_TENANTS`` naming that folder for the duration."""
    from ..mappings.tenant import tenant_path
    from .sandboxes import as_tenant, tenants_in, write_tenant_files

    sources = {base: tenant_path(base).read_text() for base in bases}
    names = [(base, base if index == 1 else f"{base}-{index}") for index in range(1, count + 1) for base in bases]
    write_tenant_files(folder, {name: as_tenant(sources[base], name) for base, name in names})
    with tenants_in(folder):
        yield folder


def run_world(world) -> dict[str, list[dict]]:
    """Every flow of one world, in order, each until drained: integration -> its runs."""
    return {spec.integration: run_until_drained(spec.flow, spec.tenant, spec.integration,
                                                source_drained=spec.source_drained)
            for _, spec in world.run_specs()}


def run_worlds(worlds: list) -> dict[str, dict[str, list[dict]]]:
    """Every world's flows, the worlds side by side (as many companies share one server and one
    ledger): world tenant -> integration -> its runs."""
    if len(worlds) == 1:
        return {worlds[0].tenant: run_world(worlds[0])}
    with ThreadPoolExecutor(max_workers=len(worlds), thread_name_prefix="demo-tenant") as pool:
        # Each thread runs in a copy of this context: Prefect's settings (the demo's server) are
        # context variables, and a bare thread would talk to an ephemeral server of its own.
        futures = {w.tenant: pool.submit(contextvars.copy_context().run, run_world, w) for w in worlds}
        return {tenant: future.result() for tenant, future in futures.items()}


@contextlib.contextmanager
def demo_worlds(documents: int = 200, faults: str = "none", seed: int = 7, workdir: str | None = None,
                tenants: int = 1):
    """``tenants`` worlds seeded and served, their blocks saved, on a Prefect server and one
    ledger in ``workdir``: yields (Prefect API URL, workdir, worlds), all torn down on exit."""
    if tenants < 1:
        raise ValueError("tenants must be at least 1")
    work = Path(workdir or tempfile.mkdtemp(prefix="ml-connector-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    prepare_environment(work)
    from .world import DemoWorld

    parts = [demo_parts() for _ in range(tenants)]
    bases = list(dict.fromkeys(["demo", *(p.tenant_base for p in parts[0] if p.tenant_base)]))
    with contextlib.ExitStack() as stack:
        if tenants > 1:
            stack.enter_context(tenant_files(work / "tenants", bases, tenants))
        api_url = stack.enter_context(prefect_api())
        worlds = [stack.enter_context(DemoWorld(documents=documents, faults=faults, seed=seed, parts=parts[n],
                                                index=n + 1)) for n in range(tenants)]
        for world in worlds:
            world.save_blocks()
        yield api_url, work, worlds


def demo_report(worlds: list, runs: dict[str, dict[str, list[dict]]]) -> dict:
    """The report of worlds that ran (while they still run): the first tenant's sections at the
    top level, where they always were, and every tenant's under ``tenants``."""
    from .world import cross_tenant_check

    reports = {w.tenant: w.report(runs[w.tenant]) for w in worlds}
    if len(worlds) > 1:
        cross_tenant_check(reports, {w.tenant: w.contents() for w in worlds})
    report = dict(reports[worlds[0].tenant])
    report["tenants"] = {w.tenant: {**reports[w.tenant], "ledger_tenants": w.tenants()} for w in worlds}
    for section in report["tenants"].values():
        section["ok"] = _ok(section)
    return report


def run_demo(documents: int = 200, faults: str = "none", seed: int = 7, workdir: str | None = None,
             tenants: int = 1) -> dict:
    """Run every integration on the sandbox for ``tenants`` tenants and return the report (see
    ``report.py`` and :func:`demo_report`)."""
    started = time.monotonic()
    with demo_worlds(documents, faults, seed, workdir, tenants) as (api_url, work, worlds):
        report = demo_report(worlds, run_worlds(worlds))
    report.update(prefect_api=api_url, workdir=str(work), seconds=round(time.monotonic() - started, 1),
                  documents=documents, faults=faults, tenant_count=tenants)
    return report


def demo_passed(report: dict) -> bool:
    """Nothing missing, duplicated, unexpected, stale or another tenant's, for every tenant."""
    return _ok(report) and all(_ok(section) for section in (report.get("tenants") or {}).values())


def _ok(section: dict) -> bool:
    from ..report import demo_ok

    return demo_ok(section) and not any(d["reconciliation"].get("foreign") for d in section["integrations"].values())


def render(report: dict) -> str:
    """The report for a person: today's page for one tenant, one page per tenant and a verdict for more."""
    from ..report import render_demo

    tenants = report.get("tenants") or {}
    if len(tenants) <= 1:
        return render_demo(report)
    pages = []
    for name, section in tenants.items():
        page = render_demo({**report, "integrations": section["integrations"],
                            "faults_injected": section["faults_injected"]})
        head = page.rpartition("\n")[0]  # its own verdict counts no other tenant: ours below does
        verdict = "OK" if _ok(section) else "PROBLEMS, see above"
        pages.append(f"== tenant {name} ({', '.join(section['ledger_tenants'])}) ==\n{head}\n"
                     f"tenant {name}: {verdict}")
    verdict = ("OK, nothing missing, nothing duplicated, nothing stale, no tenant's documents in another's systems"
               if demo_passed(report) else "PROBLEMS, see above")
    pages.append(f"result ({len(tenants)} tenants): {verdict}")
    return "\n\n".join(pages)
