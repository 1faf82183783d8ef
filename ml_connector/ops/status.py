"""``ml-connector status --tenant T``: per integration, where one tenant stands, from the ledger."""

from __future__ import annotations

from ..integrations import INTEGRATIONS, configured
from ..ledger.store import Ledger
from ..tasks.ops import replay_command


def integration_status(ledger: Ledger, name: str) -> dict:
    """Last run, cursor, counts by status and the oldest unresolved failure of one integration,
    for the tenant the ledger is scoped to."""
    last, oldest = ledger.last_run(name), ledger.oldest_failure(name)
    return {
        "tenant": ledger.tenant,
        "integration": name,
        "last_run": {"flow_run_id": last.flow_run_id, "at": str(last.at)} if last else None,
        "cursors": {n: ledger.get_cursor(name, n) for n in ("live", "whenmodified") if ledger.get_cursor(name, n)},
        "by_status": ledger.status_counts(name),
        "oldest_unresolved_failure": dict(oldest._mapping) | {"updated_at": str(oldest.updated_at)} if oldest else None,
    }


def status(ledger: Ledger, mapping=None) -> list[dict]:
    """Every integration of the ledger's tenant: those its mapping configures, and any other
    that still holds documents (an integration dropped from the mapping may have failures)."""
    rows = [integration_status(ledger, name) for name in INTEGRATIONS]
    return [r for r in rows if mapping is None or configured(INTEGRATIONS[r["integration"]], mapping) or r["by_status"]]


def render(rows: list[dict], tenant: str) -> str:
    out = [f"tenant {tenant}"]
    for r in rows:
        out.append(f"{r['integration']}")
        last = r["last_run"]
        out.append(f"  last run      {last['flow_run_id']} at {last['at']}" if last else "  last run      never")
        out.append(f"  cursors       {r['cursors'] or '(none: next poll starts at the top)'}")
        out.append(f"  by status     {r['by_status'] or '{}'}")
        failure = r["oldest_unresolved_failure"]
        if failure:
            out.append(f"  oldest failure  #{failure['id']} {failure['doc_type']} {failure['partner']} "
                       f"{failure['natural_key']} ({failure['status']} since {failure['updated_at']}): "
                       f"{failure['last_error']}")
            out.append(f"                  replay: {replay_command(tenant, r['integration'], failure['id'])}")
        else:
            out.append("  oldest failure  none")
    return "\n".join(out)
