"""The demo's sandbox world: emulators served over HTTP, the integrations' demo parts, and the
reconciliation report.

Each integration contributes a *demo part* (``ml_connector/demo/parts/``): it seeds the
emulators it needs, saves its credentials blocks, names the flows to run, and reconciles its
target at the end. Emulators are shared between parts through :meth:`DemoWorld.emulator`
(Intacct and SPS each serve several integrations).

One world is one tenant's set of companies. ``demo --tenants N`` builds N worlds on one ledger
and one Prefect server: world 1 is today's (tenants ``demo``, ``demo-qbo``, ``demo-commerce``),
world *k* adds the suffix ``-k`` to each name (:meth:`DemoWorld.tenant_name`), has its own
emulators with their own identities (company id, realm, client ids: :meth:`DemoWorld.identity`)
and is seeded with the same seed, so partner ids and document numbers collide across tenants,
while every price is shifted by :data:`PRICE_STEP` per world (:meth:`DemoWorld.price`): the same
document of two tenants never has the same content. A part's ``contents`` (optional) gives the
money of each document in its target, so :func:`cross_tenant_check` can tell a target holding
another tenant's document.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from ..mappings.tenant import load_tenant, tenant_path
from ..runtime.tenant import reset as reset_resources
from ..runtime.tenant import tenant as tenant_resources
from ..sandbox.base import Emulator, FaultPlan
from .sandboxes import Sandboxes


@dataclass(frozen=True)
class RunSpec:
    """One flow the demo runs until drained, and how to tell its source is empty."""

    integration: str
    flow: Callable
    source_drained: Callable[[], bool] = lambda: True
    tenant: str | None = None  # whose ledger rows the flow writes (None: the world's tenant)


class DemoPart(Protocol):
    tenant_base: str | None  # the tenant it runs as, before the world's suffix (None: the world's)

    def seed(self, world: DemoWorld) -> None: ...
    def save_blocks(self, world: DemoWorld) -> None: ...
    def runs(self, world: DemoWorld) -> list[RunSpec]: ...
    def reconcile(self, world: DemoWorld, integration: str) -> dict: ...


PRICE_STEP = Decimal("1.00")  # how much dearer every price is in each further world
# Each further world's companies: their own ids and secrets (world 1 keeps the emulators' defaults).
_IDENTITIES: dict[str, Callable[[int], dict[str, Any]]] = {
    "intacct": lambda n: {"company_id": f"ML-SANDBOX-{n}", "user_password": f"sandbox-user-secret-{n}"},
    "sps": lambda n: {"client_id": f"sps-sandbox-client-{n}", "client_secret": f"sps-sandbox-secret-{n}"},
    "qbo": lambda n: {"realm_id": str(9341453050198765 + n - 1), "client_id": f"qbo-sandbox-client-{n}",
                      "client_secret": f"qbo-sandbox-secret-{n}", "verifier_token": f"qbo-sandbox-verifier-{n}"},
    "adobe": lambda n: {"tenant_id": f"sandboxtenant{n:02d}"},
    "sterling": lambda n: {"username": f"mlconnector{n}", "password": f"Sandbox-Passw0rd-{n}"},
}


class DemoWorld:
    """Emulators for every system, seeded for one tenant, with expiries short enough under
    heavy faults that sessions and tokens run out mid-run. ``index`` > 1 makes the same world
    for another tenant (module docstring)."""

    def __init__(self, *, documents: int, faults: str, seed: int, parts: list[DemoPart], tenant: str = "demo",
                 index: int = 1) -> None:
        if index < 1:
            raise ValueError("a world's index counts from 1")
        self.index, self.suffix = index, "" if index == 1 else f"-{index}"
        self.tenant, self.documents, self.faults, self.seed = self.tenant_name(tenant), documents, faults, seed
        self.mapping = load_tenant(tenant_path(self.tenant))
        self.short_ttl = 2.0 if faults == "heavy" else 3600.0
        self.parts = parts
        self.sandboxes = Sandboxes()  # served over HTTP, as a deployment reaches the real systems

    def tenant_name(self, base: str) -> str:
        """The name of tenant ``base`` in this world: ``base`` itself in the first, ``base-k`` in world k."""
        return f"{base}{self.suffix}"

    def part_tenant(self, part: DemoPart) -> str:
        base = getattr(part, "tenant_base", None)
        return self.tenant_name(base) if base else self.tenant

    def tenants(self) -> list[str]:
        """Every tenant this world's parts run as, in order."""
        return list(dict.fromkeys(self.part_tenant(p) for p in self.parts)) or [self.tenant]

    def identity(self, system: str) -> dict[str, Any]:
        """Constructor arguments giving ``system``'s emulator this world's own company identity."""
        return {} if self.index == 1 else _IDENTITIES[system](self.index)

    def price(self, amount) -> Decimal:
        """A seeded price in this world: the same in the first, :data:`PRICE_STEP` dearer per further one."""
        value = Decimal(str(amount))
        return value if self.index == 1 else value + PRICE_STEP * (self.index - 1)

    def catalogue(self, catalogue=None):
        """The generator's catalogue (the demo one by default) at this world's prices; None (the
        generator's default, untouched) in the first world when no catalogue is given."""
        from ..sandbox.catalogue import demo_catalogue

        if self.index == 1:
            return catalogue
        catalogue = catalogue or demo_catalogue()
        return replace(catalogue, items=[replace(i, unit_price=self.price(i.unit_price)) for i in catalogue.items])

    def priced(self, mapping):
        """``mapping`` with its items' unit costs at this world's prices, for seeding documents
        (the tenant's own file stays as shipped: only what its companies hold differs)."""
        if self.index == 1:
            return mapping
        items = [x.model_copy(update={"unit_cost": self.price(x.unit_cost or Decimal("9.99"))}) for x in mapping.items]
        return mapping.model_copy(update={"items": items})

    def fault_plan(self, offset: int) -> FaultPlan:
        return FaultPlan.profile(self.faults, self.seed + offset + 1000 * (self.index - 1))

    def emulator(self, system: str, make: Callable[[], Emulator]) -> Emulator:
        """The world's emulator for ``system``, made and served over HTTP on first use."""
        return self.sandboxes.get(system, make)

    @property
    def emulators(self) -> dict[str, Emulator]:
        return self.sandboxes.emulators

    def __enter__(self) -> DemoWorld:
        reset_resources()
        for part in self.parts:
            part.seed(self)
        return self

    def save_blocks(self) -> None:
        for part in self.parts:
            part.save_blocks(self)

    def run_specs(self) -> list[tuple[DemoPart, RunSpec]]:
        """Every flow to run, in order, each with the tenant it runs as."""
        return [(part, spec if spec.tenant else replace(spec, tenant=self.part_tenant(part)))
                for part in self.parts for spec in part.runs(self)]

    def __exit__(self, *exc) -> None:
        reset_resources()
        self.sandboxes.close()

    def report(self, runs: dict[str, list[dict]]) -> dict:
        """Per integration: its runs' counts, its tenant's ledger and its reconciliation: the part's
        (what was seeded against what the target holds) with the integration's own final-state
        reconciliation on top (:func:`final_state`, the same as ``ml-connector reconcile``)."""
        integrations = {}
        with self.without_faults():
            for part, spec in self.run_specs():
                name = spec.integration
                res = tenant_resources(spec.tenant)
                final = final_state(res, name)
                reconciliation = {**part.reconcile(self, name), **{k: final[k] for k in FINAL_STATE}}
                integrations[name] = {**_integration(name, runs[name], res.ledger, reconciliation, spec.tenant),
                                      **{k: final[k] for k in REVISIONS}}
        faults = {system: dict(e.faults.counts) for system, e in self.sandboxes.emulators.items()}
        return {"integrations": integrations, "faults_injected": faults}

    @contextlib.contextmanager
    def without_faults(self):
        """The emulators answer without injected faults for the duration: the reconciliation
        reads every target once the runs are over, as an operator's nightly ``ml-connector
        reconcile`` would; the faults were for the runs (their counts stay in the report)."""
        plans = {name: e.faults for name, e in self.sandboxes.emulators.items()}
        try:
            for e in self.sandboxes.emulators.values():
                e.faults = FaultPlan()
            yield
        finally:
            for name, plan in plans.items():
                self.sandboxes[name].faults = plan

    def contents(self) -> dict[str, dict[tuple, Any]]:
        """Integration -> {document key in its target: the document's money}, for the parts
        that can tell (``contents``); documents without money are left out."""
        out = {}
        for part, spec in self.run_specs():
            read = getattr(part, "contents", None)
            found = read(self, spec.integration) if read else None
            if found is not None:
                out[spec.integration] = {k: v for k, v in found.items() if v}
        return out


# What the final-state reconciliation adds to a part's: "reconcile_missing" and
# "reconcile_duplicated" are what ``ml-connector reconcile`` finds missing and duplicated; the
# revision figures also stand on the integration itself.
FINAL_STATE = ("stale", "reconcile_missing", "reconcile_duplicated")
REVISIONS = ("changed", "cancelled", "stale")


def final_state(res, integration: str) -> dict[str, int]:
    """The integration's final state against each document's latest revision: through its
    pipeline's ``reconcile`` in the catalogue (ops/reconcile.py) when it has one; for the master
    data steps outside the catalogue (qbo-master, commerce-ap-vendors), the ledger's latest
    revisions alone."""
    from ..integrations import INTEGRATIONS
    from ..ops import reconcile

    spec = INTEGRATIONS.get(integration)
    if spec is not None and spec.pipeline.reconcile is not None:
        summary, _ = reconcile.summarize(res, integration)
        return {"stale": summary["stale"], "changed": summary["changed"], "cancelled": summary["cancelled"],
                "reconcile_missing": summary["missing"], "reconcile_duplicated": summary["duplicated"]}
    revisions = reconcile.revision_frame(res.ledger.latest_revisions(integration))
    figures = reconcile.revision_counts(revisions)
    return {**figures, "stale": int(revisions["stale"].sum()) if len(revisions) else 0,
            "reconcile_missing": 0, "reconcile_duplicated": 0}


def cross_tenant_check(reports: dict[str, dict], contents: dict[str, dict[str, dict]]) -> None:
    """Mark, in each tenant's report, the documents of its targets whose content is another
    tenant's: the same key with the same money as that tenant's document. Worlds differ in
    every price, so that can only be a document that crossed over (read from, or written to,
    the wrong company). Each integration's reconciliation gets ``shared_keys`` (its documents
    whose key another tenant's target holds too: the ones compared) and ``foreign`` (those
    with that tenant's content), counted as ``unexpected`` too, so the demo fails on it."""
    for tenant, report in reports.items():
        others = [found for t, found in contents.items() if t != tenant]
        for name, section in report["integrations"].items():
            mine = contents.get(tenant, {}).get(name)
            if mine is None:
                continue
            theirs = [other.get(name, {}) for other in others]
            shared = [key for key in mine if any(key in other for other in theirs)]
            foreign = sum(1 for key in shared if any(other.get(key) == mine[key] for other in theirs))
            section["reconciliation"].update(shared_keys=len(shared), foreign=foreign)
            section["reconciliation"]["unexpected"] += foreign


def money_of(value: Any) -> tuple[str, ...] | None:
    """The prices and totals in a document (a pydantic model or plain data), as a sorted tuple:
    every value under a key naming a price or total (``unit_price``, ``PurchasePrice``,
    ``UnitPrice``, ``total``, ``TotalAmt``). None when it holds none."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if hasattr(node, "model_dump"):
            node = node.model_dump()
        if isinstance(node, dict):
            for key, item in node.items():
                name = str(key).lower()
                if isinstance(item, (dict, list, tuple)) or hasattr(item, "model_dump"):
                    walk(item)
                elif item is not None and ("price" in name or name in ("total", "totalamt")):
                    found.append(_normal(item))
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)

    walk(value)
    return tuple(sorted(found)) or None


def _normal(value: Any) -> str:
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except ArithmeticError:
        return str(value)


def _integration(name: str, runs: list[dict], ledger, reconciliation: dict, tenant: str) -> dict:
    totals = Counter()
    for run in runs:
        totals.update(run["counts"])
    return {
        "tenant": tenant,
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
