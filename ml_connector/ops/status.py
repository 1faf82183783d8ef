"""``ml-connector status``: per integration, where it stands, from the ledger."""

from __future__ import annotations

from ..integrations import INTEGRATIONS
from ..ledger.store import Ledger


def integration_status(ledger: Ledger, name: str) -> dict:
    """Last run, cursor, counts by status and the oldest unresolved failure of one integration,
    for the tenant the ledger is scoped to."""
    last, oldest = ledger.last_run(name), ledger.oldest_failure(name)
    return {
        "integration": name,
        "last_run": {"flow_run_id": last.flow_run_id, "at": str(last.at)} if last else None,
        "cursors": {n: ledger.get_cursor(name, n) for n in ("live", "whenmodified") if ledger.get_cursor(name, n)},
        "by_status": ledger.status_counts(name),
        "oldest_unresolved_failure": dict(oldest._mapping) | {"updated_at": str(oldest.updated_at)} if oldest else None,
    }


def status(ledger: Ledger) -> list[dict]:
    return [integration_status(ledger, name) for name in INTEGRATIONS]


def render(rows: list[dict]) -> str:
    out = []
    for r in rows:
        out.append(f"{r['integration']}")
        last = r["last_run"]
        out.append(f"  last run      {last['flow_run_id']} at {last['at']}" if last else "  last run      never")
        out.append(f"  cursors       {r['cursors'] or '(none: next poll starts at the top)'}")
        out.append(f"  by status     {r['by_status'] or '{}'}")
        failure = r["oldest_unresolved_failure"]
        if failure:
            out.append(f"  oldest failure  #{failure['id']} {failure['doc_type']} {failure['partner']} "
                       f"{failure['natural_key']} ({failure['status']} since {failure['updated_at']}): {failure['last_error']}")
            out.append(f"                  replay: ml-connector replay --integration {r['integration']} --id {failure['id']}")
        else:
            out.append("  oldest failure  none")
    return "\n".join(out)
