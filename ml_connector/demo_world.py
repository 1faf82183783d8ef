"""The demo's sandbox world: emulators served over HTTP, seeded, and reconciled at the end."""

from __future__ import annotations

from collections import Counter

from .connectors.errors import BadDocument
from .connectors.sps import rsx
from .connectors.sps.models import natural_key
from .mappings.tenant import load_tenant, tenant_path
from .sandbox.base import FaultPlan
from .sandbox.intacct import IntacctEmulator
from .sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents
from .sandbox.serve import serve_in_thread
from .sandbox.sps import SpsEmulator
from .tasks.resources import reset as reset_resources
from .tasks.resources import tenant as tenant_resources

BAD_FRACTION = 0.03  # the share of hostile or broken inbound files the demo mixes in


class DemoWorld:
    """Emulators for every system, seeded for one tenant, with expiries short enough under
    heavy faults that sessions and tokens run out mid-run."""

    def __init__(self, *, documents: int, faults: str, seed: int, tenant: str = "demo") -> None:
        self.tenant = tenant
        self.mapping = load_tenant(tenant_path(tenant))
        short = faults == "heavy"
        self.intacct = IntacctEmulator(faults=FaultPlan.profile(faults, seed), session_ttl=2 if short else 3600)
        self.sps = SpsEmulator(faults=FaultPlan.profile(faults, seed + 1), token_ttl=2 if short else 3600)
        self.documents, self.seed = documents, seed
        self.seeded = Seeded()
        self._served = []

    def __enter__(self) -> "DemoWorld":
        reset_resources()
        self._served = [serve_in_thread(self.intacct), serve_in_thread(self.sps)]
        seed_intacct_master(self.intacct, self.mapping)
        seed_ar_invoices(self.intacct, self.mapping, max(self.documents // 4, 1), self.seed, self.seeded)
        seed_sps_documents(self.sps, self.mapping, self.documents, self.seed, BAD_FRACTION, self.seeded)
        return self

    def __exit__(self, *exc) -> None:
        reset_resources()
        for served in self._served:
            served.stop()

    def sps_credentials(self) -> dict:
        creds = self.sps.credentials()
        return {k: creds[k] for k in ("client_id", "client_secret", "base_url", "token_url", "audience")}

    # -- reconciliation ----------------------------------------------------------------------
    def report(self, runs: dict[str, list[dict]]) -> dict:
        ledger = tenant_resources(self.tenant).ledger
        return {
            "integrations": {
                "sps-intacct": self._integration("sps-intacct", runs["sps-intacct"], ledger, self._reconcile_bills()),
                "intacct-sps": self._integration("intacct-sps", runs["intacct-sps"], ledger, self._reconcile_outbox()),
            },
            "faults_injected": {"intacct": dict(self.intacct.faults.counts), "sps": dict(self.sps.faults.counts)},
        }

    def _integration(self, name: str, runs: list[dict], ledger, reconciliation: dict) -> dict:
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

    def _reconcile_bills(self) -> dict:
        counts = Counter((b["VENDORID"], b["RECORDID"]) for b in self.intacct.bills())
        expected = self.seeded.expected_bills
        return _recon(expected, counts)

    def _reconcile_outbox(self) -> dict:
        counts: Counter = Counter()
        for path, content in self.sps.inbox().items():
            try:
                docs = rsx.parse(content, filename=path.rsplit("/", 1)[-1])
            except BadDocument:
                counts[("unreadable", path)] += 1
                continue
            for doc_type, doc in docs:
                counts[(doc_type, *natural_key(doc_type, doc))] += 1
        expected = {("invoice", p, n) for p, n in self.seeded.expected_invoices}
        expected |= {("orderack", p, n) for p, n in self.seeded.orders}
        return _recon(expected, counts)


def _recon(expected: set, present: Counter) -> dict:
    return {
        "expected": len(expected),
        "present": sum(1 for k in expected if present.get(k)),
        "missing": sum(1 for k in expected if not present.get(k)),
        "duplicated": sum(1 for c in present.values() if c > 1),
        "unexpected": sum(1 for k in present if k not in expected),
    }
