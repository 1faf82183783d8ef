"""The demo's sandbox world: emulators served over HTTP, the integrations' demo parts, and the
reconciliation report.

Each integration contributes a *demo part* (``ml_connector/demo_parts/``): it seeds the
emulators it needs, saves its credentials blocks, names the flows to run, and reconciles its
target at the end. Emulators are shared between parts through :meth:`DemoWorld.emulator`
(Intacct and SPS each serve several integrations).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Protocol

from .mappings.tenant import load_tenant, tenant_path
from .sandbox.base import Emulator, FaultPlan
from .sandbox.serve import serve_in_thread
from .tasks.resources import reset as reset_resources
from .tasks.resources import tenant as tenant_resources


@dataclass(frozen=True)
class RunSpec:
    """One flow the demo runs until drained, and how to tell its source is empty."""

    integration: str
    flow: Callable
    source_drained: Callable[[], bool] = lambda: True


class DemoPart(Protocol):
    def seed(self, world: "DemoWorld") -> None: ...
    def save_blocks(self, world: "DemoWorld") -> None: ...
    def runs(self, world: "DemoWorld") -> list[RunSpec]: ...
    def reconcile(self, world: "DemoWorld", integration: str) -> dict: ...


class DemoWorld:
    """Emulators for every system, seeded for one tenant, with expiries short enough under
    heavy faults that sessions and tokens run out mid-run."""

    def __init__(self, *, documents: int, faults: str, seed: int, parts: list[DemoPart], tenant: str = "demo") -> None:
        self.tenant, self.documents, self.faults, self.seed = tenant, documents, faults, seed
        self.mapping = load_tenant(tenant_path(tenant))
        self.short_ttl = 2.0 if faults == "heavy" else 3600.0
        self.parts = parts
        self._emulators: dict[str, Emulator] = {}
        self._served = []

    def fault_plan(self, offset: int) -> FaultPlan:
        return FaultPlan.profile(self.faults, self.seed + offset)

    def emulator(self, system: str, make: Callable[[], Emulator]) -> Emulator:
        """The world's emulator for ``system``, made and served over HTTP on first use."""
        if system not in self._emulators:
            emulator = make()
            self._served.append(serve_in_thread(emulator))
            self._emulators[system] = emulator
        return self._emulators[system]

    @property
    def emulators(self) -> dict[str, Emulator]:
        return dict(self._emulators)

    def __enter__(self) -> "DemoWorld":
        reset_resources()
        for part in self.parts:
            part.seed(self)
        return self

    def save_blocks(self) -> None:
        for part in self.parts:
            part.save_blocks(self)

    def run_specs(self) -> list[tuple[DemoPart, RunSpec]]:
        return [(part, spec) for part in self.parts for spec in part.runs(self)]

    def __exit__(self, *exc) -> None:
        reset_resources()
        for served in self._served:
            served.stop()

    def report(self, runs: dict[str, list[dict]]) -> dict:
        ledger = tenant_resources(self.tenant).ledger
        integrations = {}
        for part, spec in self.run_specs():
            name = spec.integration
            integrations[name] = _integration(name, runs[name], ledger, part.reconcile(self, name))
        faults = {system: dict(e.faults.counts) for system, e in self._emulators.items()}
        return {"integrations": integrations, "faults_injected": faults}


def _integration(name: str, runs: list[dict], ledger, reconciliation: dict) -> dict:
    totals = Counter()
    for run in runs:
        totals.update(run["counts"])
    return {
        "runs": [{"run_id": r["run_id"], "state": r["state"]} for r in runs],
        "read": totals["read"],
        "posted": totals["posted"],
        "skipped_duplicates": totals["duplicate"],
        "failed": totals["failed"],
        "quarantined": totals["quarantined"],
        "skipped": totals["skipped"],
        "ledger": ledger.status_counts(name),
        "reconciliation": reconciliation,
    }


def recon(expected: set, present: Counter) -> dict:
    """Expected keys against the keys found in a target, with how often each was found."""
    return {
        "expected": len(expected),
        "present": sum(1 for k in expected if present.get(k)),
        "missing": sum(1 for k in expected if not present.get(k)),
        "duplicated": sum(1 for c in present.values() if c > 1),
        "unexpected": sum(1 for k in present if k not in expected),
    }
