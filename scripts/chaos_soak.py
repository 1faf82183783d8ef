"""Chaos soak: heavy faults, and the process running the flows killed with SIGKILL at random
moments and restarted, until the sandbox is drained; then reconcile.

    .venv/bin/python scripts/chaos_soak.py --documents 10000 --kills 8
    .venv/bin/python scripts/chaos_soak.py --documents 200 --kills 4 --spare qbo-sps --json  # the suite's size
    .venv/bin/python scripts/chaos_soak.py --documents 200 --kills 4 --only commerce-intacct-o2c \\
        --only commerce-intacct-ap --only commerce-ap-vendors --only intacct-sterling --only sterling-inbound

Every integration of the demo's parts, in the demo's order: SPS -> Intacct, Intacct -> SPS (AR
invoices and order acknowledgements), QBO master data, SPS -> QBO and QBO -> SPS (half its
invoices announced by a signed webhook, the rest found by CDC), Intacct -> Sterling (AP bills as
810s, purchase orders as 850s) and the Sterling mailbox (997s back), Adobe Commerce -> Intacct
order to cash, and Adobe Commerce -> Intacct procure (half its orders announced by signed
webhooks) with its vendor master. ``--documents`` generated RSX files are split between the two
SPS sources; each source also gets a quarter as many invoices in Intacct or QBO, the Commerce
store an eighth as many orders (with their invoices, shipments and credit memos) and Intacct a
twentieth as many purchase orders for Sterling. ``--only`` runs some integrations (every part is
still seeded). The emulators (heavy faults: 429 bursts, 5xx, timeouts, lost write responses,
sessions and tokens expiring every 2 s) are served over HTTP from this process; each flow run
happens in a child process, and the kills are spread over the integrations. A killed run's
Prefect flow run stays "Running" until the server's zombie automation marks it crashed (README,
"Crashed runs"), so here its unfinished intents are settled by the lease
(``ML_CONNECTOR_INTENT_LEASE``, short here) on a later run. Prints the figures: documents,
faults injected by kind, kills, missing, duplicated, failed with reason, and what each
integration left pending.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# Small pages, so a run alternates fetching, recording and posting, and a kill lands in each.
RUN_FLOW = "from {module} import {fn}; {fn}({args})"
CHILDREN = {  # integration -> (module, flow function, arguments) of the flow a child process runs
    "sps-intacct": ("ml_connector.flows.sps_to_intacct", "sps_to_intacct", "tenant='demo', page_size=40"),
    "intacct-sps": ("ml_connector.flows.intacct_to_sps", "intacct_to_sps", "tenant='demo', page_size=40"),
    "qbo-master": ("ml_connector.flows.qbo_master_data", "qbo_master_data", "tenant='demo-qbo'"),
    "sps-qbo": ("ml_connector.flows.sps_to_qbo", "sps_to_qbo", "tenant='demo-qbo', page_size=40"),
    "qbo-sps": ("ml_connector.flows.qbo_to_sps", "qbo_to_sps", "tenant='demo-qbo'"),
    "intacct-sterling": ("ml_connector.flows.intacct_to_sterling", "intacct_to_sterling",
                         "tenant='demo', page_size=40"),
    # A zero-minute deadline as in the demo: the silent partner's documents end overdue at once,
    # and a 997 that arrives later still settles an overdue document.
    "sterling-inbound": ("ml_connector.flows.sterling_mailbox", "sterling_mailbox",
                         "tenant='demo', overdue_after_minutes=0"),
    "commerce-intacct-o2c": ("ml_connector.flows.commerce_to_intacct_o2c", "commerce_to_intacct_o2c",
                             "tenant='demo-commerce', page_size=40"),
    "commerce-intacct-ap": ("ml_connector.flows.commerce_to_intacct_ap", "commerce_to_intacct_ap",
                            "tenant='demo-commerce', page_size=40"),
    "commerce-ap-vendors": ("ml_connector.flows.commerce_ap_vendor_master", "commerce_ap_vendor_master",
                            "tenant='demo-commerce'"),
}
# Integrations whose part delivers signed webhooks (through the real webhook app) before the
# first run, as the demo does: half the QBO invoices, half the Commerce order events.
WEBHOOKS_FIRST = ("qbo-sps", "commerce-intacct-ap")
# Ledger "integrations" that hold a consumer's stored webhook notifications, and the integration
# whose tenant they belong to.
INBOXES = {"qbo-webhook": "qbo-sps", "commerce-intacct-ap:webhook": "commerce-intacct-ap"}


def child_env(api_url: str) -> dict:
    # The SPS sandbox reports its history at once, so an upload whose answer was lost can be
    # looked up a second later instead of after SPS's five-minute reporting lag.
    return {"ML_CONNECTOR_SPS_HISTORY_LAG": "1", **os.environ, "PREFECT_API_URL": api_url,
            "ML_CONNECTOR_INTENT_LEASE": "2", "ML_CONNECTOR_TASK_RETRY_DELAYS": "0.2,0.5,1",
            "PREFECT_LOGGING_LEVEL": "ERROR"}


def run_child(module: str, fn: str, args: str, env: dict, kill_after: float | None,
              working=lambda: True) -> str:
    """Run one flow in a child process; SIGKILL it ``kill_after`` seconds after ``working()``
    first turns true (the run wrote to the ledger), if given. Timing the kill from the first
    write, not from the start, keeps a slow import on a loaded machine from eating the kill."""
    proc = subprocess.Popen([sys.executable, "-c", RUN_FLOW.format(module=module, fn=fn, args=args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started, deadline = time.monotonic(), None
    while proc.poll() is None:
        now = time.monotonic()
        if kill_after is not None and deadline is None and working():
            deadline = now + kill_after
        if (deadline is not None and now >= deadline) or now - started > 3600:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return "killed" if deadline is not None and now >= deadline else "timeout"
        time.sleep(0.1)
    return "completed" if proc.returncode == 0 else "failed"


def drained(world, ledger, integration: str) -> bool:
    """Whether the product has nothing left to do for ``integration``: its source queue is
    empty and no document waits in received or posting. Deliberately not "the target
    reconciles": a document the product skipped must show up as missing, not as another run."""
    from ml_connector.demo.parts import intacct_sterling, sps_intacct, sps_qbo

    counts = ledger.status_counts(integration)
    if integration == "sps-intacct":
        source_empty = not sps_intacct.sps(world).files("out/")
    elif integration == "intacct-sps":  # every posted order acknowledged too
        source_empty = not ledger.posted_without_followup("sps-intacct", "order", "intacct-sps", "orderack", limit=1)
    elif integration == "sps-qbo":
        source_empty = not sps_qbo.sps(world).files("out/")
    elif integration == "qbo-sps":  # every webhook notification taken
        webhooks = ledger.status_counts("qbo-webhook")
        source_empty = not webhooks.get("received") and not webhooks.get("posting")
    elif integration == "commerce-intacct-ap":  # every stored notification taken (the poll reads the rest)
        source_empty = not ledger.status_counts("commerce-intacct-ap:webhook").get("received")
    elif integration == "commerce-intacct-o2c":  # every write-back to Commerce done too
        followups = ledger.status_counts("commerce-o2c-writeback")
        source_empty = not followups.get("received") and not followups.get("posting")
    elif integration == "sterling-inbound":  # every 997 sent and picked up from the partners' Outboxes
        source_empty = not _unread_partner_messages(intacct_sterling.sterling(world))
    else:  # master data (a completed run is the sync), and the cursor-read Intacct and Commerce sources
        source_empty = True
    return source_empty and not counts.get("received") and not counts.get("posting")


def _unread_partner_messages(emulator) -> int:
    """997s not yet sent, plus messages still extractable in any partner's Outbox."""
    from ml_connector.connectors.sterling import partner_outbox

    unread = sum(1 for p in emulator.partners() for m in emulator.mailbox_messages(partner_outbox(p["partnerName"]))
                 if m["extractableAlways"] or m["extractableCount"])
    return emulator.pending_acks() + unread


def soak_parts() -> list:
    """The demo's parts in the demo's order (``demo.run_demo``): SPS <-> Intacct, SPS <-> QBO,
    Intacct -> Sterling, then Commerce order to cash before Commerce procure (it seeds the items
    with stock that purchase orders name too)."""
    from ml_connector.demo.parts import all_parts
    from ml_connector.demo.parts.commerce_intacct_ap import CommerceIntacctApPart
    from ml_connector.demo.parts.commerce_intacct_o2c import CommerceIntacctO2cPart

    parts = all_parts()
    for kind in (CommerceIntacctO2cPart, CommerceIntacctApPart):
        if not any(isinstance(p, kind) for p in parts):
            parts.append(kind())
    return parts


def reconcile(world, part, ledger, integration: str) -> dict:
    """The part's reconciliation; for the Sterling mailbox (whose part checks no target) the
    acknowledgment each delivered document must end with."""
    found = part.reconcile(world, integration)
    if integration == "sterling-inbound":
        found.update(_ack_reconciliation(world, ledger))
    elif integration == "commerce-intacct-o2c":  # a write to Commerce under lost answers and kills
        found["writeback"] = _writeback_reconciliation(world, ledger)
        found["missing"] += found["writeback"]["missing"]
        found["duplicated"] += found["writeback"]["duplicated"]
    return found


def _writeback_reconciliation(world, ledger) -> dict:
    """Every order posted as an AR invoice carries exactly one comment naming it in Commerce."""
    from ml_connector.demo.parts.commerce_intacct_ap import adobe
    from ml_connector.demo.world import recon

    expected = {str(r.natural_key) for r in ledger.documents("commerce-intacct-o2c", status="posted", doc_type="order")}
    with adobe(world).lock:
        present = Counter(str(o["entity_id"]) for o in adobe(world).store.rows("order")
                          for h in o.get("status_histories") or [] if str(h.get("comment", "")).startswith(
                              "Sage Intacct AR invoice"))
    return recon(expected, present)


def _ack_reconciliation(world, ledger) -> dict:
    """Every delivered 810/850 ends as its partner's 997 said (accepted or rejected), or overdue
    when the partner stays silent; one still ``delivered`` (or settled otherwise) is missing:
    its 997 was lost on our side."""
    from ml_connector.demo.parts.intacct_sterling import sterling
    from ml_connector.demo.world import recon
    from ml_connector.ledger.x12_controls import ack_rows

    verdicts = {(a["partner"], int(a["interchange"])): "accepted" if a["accepted"] else "rejected"
                for a in sterling(world).acks()}
    delivered = {r.id for r in ledger.documents("intacct-sterling", status="posted") if r.doc_type != "partner"}
    expected, present = set(), Counter()
    for row in ack_rows(ledger):
        if row.document_id in delivered:
            verdict = verdicts.get((row.partner, int(row.interchange)), "overdue")
            expected.add((row.doc_type, row.partner, row.natural_key, verdict))
            present[(row.doc_type, row.partner, row.natural_key, row.state)] += 1
    return recon(expected, present)


def _events(ledger) -> int:
    from sqlalchemy import func, select

    from ml_connector.ledger.schema import document_events

    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(document_events)).scalar()


def soak(documents: int, kills: int, seed: int, api_url: str, max_runs: int = 60,
         kill_window: tuple[float, float] = (0.5, 8.0), spare: frozenset[str] = frozenset(),
         only: frozenset[str] | None = None) -> dict:
    """Run the soak against the Prefect API at ``api_url``; return the figures. ``kill_window``
    is when a kill lands, in seconds after the run's first ledger write; the integrations in
    ``spare`` run under faults but are never killed; ``only`` (default: all) names the
    integrations to run, every part being seeded all the same."""
    from ml_connector.demo.world import DemoWorld
    from ml_connector.runtime.tenant import tenant as tenant_resources

    rng = random.Random(seed)
    env = child_env(api_url)
    runs: Counter = Counter()
    tally = {"runs": Counter(), "kills": Counter()}  # by integration
    started = time.monotonic()
    with DemoWorld(documents=max(documents // 2, 1), faults="heavy", seed=seed, parts=soak_parts()) as world:
        world.save_blocks()
        parts = {spec.integration: part for part, spec in world.run_specs()}
        # Each integration's rows are its own tenant's (demo, demo-qbo, demo-commerce): reading
        # another tenant's ledger would find nothing to drain, reconcile or count.
        tenants = {spec.integration: spec.tenant for _, spec in world.run_specs()}
        ledgers = {name: tenant_resources(t).ledger for name, t in tenants.items()}
        ledger = ledgers[next(iter(ledgers))]  # kill timing counts events of every tenant alike
        unknown = [name for name in parts if name not in CHILDREN]
        if unknown:  # a demo part grew an integration: soak it too rather than skip it quietly
            raise SystemExit(f"chaos soak: no child command for {unknown}; add them to CHILDREN")
        if only is not None and only - set(parts):
            raise SystemExit(f"chaos soak: no such integration {sorted(only - set(parts))}; known: {list(parts)}")
        order = [name for name in parts if only is None or name in only]
        kills_left, killable = kills, [name for name in order if name not in spare]
        for integration in order:
            if integration in WEBHOOKS_FIRST:  # half the changes are announced, as in the demo
                parts[integration].deliver_webhooks(world)
            quota = 0
            if integration in killable:  # spread what is left over the killable flows still to run
                quota = -(-kills_left // len(killable))
                killable.remove(integration)
            for _ in range(max_runs):
                kill_after = rng.uniform(*kill_window) if quota > 0 else None
                before = _events(ledger)
                outcome = run_child(*CHILDREN[integration], env, kill_after,
                                    working=lambda before=before: _events(ledger) > before)
                runs[outcome] += 1
                tally["runs"][integration] += 1
                if outcome == "killed":
                    kills_left, quota = kills_left - 1, quota - 1
                    tally["kills"][integration] += 1
                    runs["killed_mid_work"] += _events(ledger) > before
                    time.sleep(2.5)  # let the lease of the killed run's intents pass
                elif outcome == "completed" and drained(world, ledgers[integration], integration):
                    break
        recon = {name: reconcile(world, parts[name], ledgers[name], name) for name in order}
        documents_in_ledger = {name: sum(ledgers[name].status_counts(name).values()) for name in order}
        failed = [r for name in order for r in ledgers[name].documents(name, status=("failed", "quarantined"))]
        pending = {name: n for name in order if (n := _pending(ledgers[name], name))}
        pending |= {inbox: n for inbox, owner in INBOXES.items()
                    if owner in ledgers and (n := _pending(ledgers[owner], inbox))}
        faults = {system: dict(e.faults.counts) for system, e in world.emulators.items()}
    return {
        "documents": sum(documents_in_ledger.values()),
        "documents_by_integration": documents_in_ledger,
        "seconds": round(time.monotonic() - started, 1),
        "runs": dict(runs),
        "runs_by_integration": dict(tally["runs"]),
        "kills": runs["killed"],
        "kills_mid_work": runs["killed_mid_work"],
        "kills_by_integration": dict(tally["kills"]),
        "faults_injected": faults,
        "faults_by_kind": dict(sum((Counter(c) for c in faults.values()), Counter())),
        "faults_total": sum(sum(c.values()) for c in faults.values()),
        "missing": sum(r["missing"] for r in recon.values()),
        "duplicated": sum(r["duplicated"] for r in recon.values()),
        "failed_or_quarantined": len(failed),
        "failed_without_reason": sum(1 for r in failed if not r.last_error),
        "failure_reasons": dict(Counter(_reason(r) for r in failed).most_common(20)),
        "left_pending": pending,
        "reconciliation": recon,
    }


def _pending(ledger, integration: str) -> int:
    """Ledger rows of ``integration`` (or a webhook inbox) still received or claimed at the end."""
    counts = ledger.status_counts(integration)
    return counts.get("received", 0) + counts.get("posting", 0)


def _reason(row) -> str:
    """A failed document's reason without its own identifiers, so alike reasons group: the
    integration, the error class and the reason's code (or its text with numbers masked)."""
    error = row.last_error or "(none)"
    code = re.search(r"code=([\w-]+)", error)
    return f"{row.integration}/{row.error_class}/{code.group(1) if code else re.sub(r'[0-9]+', '#', error)[:60]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--spare", action="append", default=[], metavar="INTEGRATION",
                        help="run this integration under faults but never kill it (repeatable)")
    parser.add_argument("--only", action="append", default=None, metavar="INTEGRATION",
                        help="run only this integration (repeatable; every part is still seeded)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ml_connector.demo import prefect_api, prepare_environment

    prepare_environment(Path(tempfile.mkdtemp(prefix="mlc-soak-")))
    with prefect_api() as api_url:
        result = soak(args.documents, args.kills, args.seed, api_url, spare=frozenset(args.spare),
                      only=frozenset(args.only) if args.only else None)
    print(f"chaos soak: {result['documents']} documents {result['documents_by_integration']} in {result['seconds']}s; "
          f"runs {result['runs']} {result['runs_by_integration']}")
    print(f"{result['kills']} SIGKILLs {result['kills_by_integration']} ({result['kills_mid_work']} after the run had "
          f"written to the ledger); {result['faults_total']} faults injected {result['faults_by_kind']}")
    print(f"missing {result['missing']}, duplicated {result['duplicated']}, failed or quarantined "
          f"{result['failed_or_quarantined']} (without a reason: {result['failed_without_reason']}): "
          f"{result['failure_reasons']}; left received or claimed: {result['left_pending'] or 'none'}")
    wrong = {name: {k: r[k] for k in ("expected", "missing", "duplicated")}
             for name, r in result["reconciliation"].items() if r["missing"] or r["duplicated"]}
    if wrong:
        print(f"reconciliation off in {wrong}")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    ok = result["missing"] == 0 and result["duplicated"] == 0 and result["failed_without_reason"] == 0
    return 0 if ok and result["kills"] >= min(args.kills, 3) else 1


if __name__ == "__main__":
    sys.exit(main())
