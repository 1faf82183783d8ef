"""The ``ml-connector`` console script: what the Prefect UI does not do.

Imports are inside the commands: Prefect reads its settings at import, and the demo must set
its own home and server before that happens.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ml-connector", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="run every integration against the embedded sandbox")
    demo.add_argument("--documents", type=int, default=200, help="inbound documents to generate (default 200)")
    demo.add_argument("--faults", choices=["none", "light", "heavy"], default="none")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--workdir", help="where the demo keeps its ledger and Prefect home (default: a temp dir)")
    demo.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    demo.set_defaults(func=cmd_demo)

    sandbox = sub.add_parser("sandbox", help="the emulators")
    ssub = sandbox.add_subparsers(dest="sandbox_command")
    serve = ssub.add_parser("serve", help="serve one emulator over HTTP on 127.0.0.1")
    serve.add_argument("--system", choices=["intacct", "sps", "sterling", "adobe", "qbo"], required=True)
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--faults", choices=["none", "light", "heavy"], default="none")
    serve.add_argument("--documents", type=int, default=0, help="seed this many demo documents")
    serve.set_defaults(func=cmd_sandbox_serve)

    webhooks = sub.add_parser("webhooks", help="the webhook service")
    wsub = webhooks.add_subparsers(dest="webhooks_command")
    wserve = wsub.add_parser("serve", help="serve POST /webhooks/qbo (QuickBooks Online) and /webhooks/adobe (Adobe Commerce) on 127.0.0.1")
    wserve.add_argument("--port", type=int, default=8080)
    wserve.add_argument("--host", default="127.0.0.1")
    wserve.add_argument("--tenant", default="demo-qbo")
    wserve.add_argument("--no-worker", action="store_true",
                        help="do not start the delivery worker child process (`webhooks worker` runs elsewhere)")
    wserve.set_defaults(func=lambda args: __import__("ml_connector.webhooks.app", fromlist=["serve"]).serve(
        args.tenant, args.port, args.host, worker=not args.no_worker) or 0)
    wworker = wsub.add_parser("worker", help="serve the webhook delivery tasks (Prefect task worker); "
                                             "`webhooks serve` starts one itself unless --no-worker")
    wworker.add_argument("--tenant", action="append", help="a tenant to warm up (repeatable; default demo-qbo)")
    wworker.set_defaults(func=lambda args: __import__("ml_connector.webhooks.worker", fromlist=["serve_worker"])
                         .serve_worker(args.tenant or ["demo-qbo"]) or 0)

    preview = sub.add_parser("preview", help="translate one document file without posting")
    preview.add_argument("--integration", choices=["sps-intacct", "intacct-sps", "intacct-sterling", "sps-qbo", "qbo-sps",
                                                   "commerce-intacct-o2c", "commerce-intacct-ap"], required=True)
    preview.add_argument("--tenant", default=None, help="default: demo (demo-qbo for sps-qbo and qbo-sps, "
                                                        "demo-commerce for commerce-intacct-o2c and -ap)")
    preview.add_argument("file")
    preview.set_defaults(func=cmd_preview)
    _ops_parsers(sub)
    return p


def _ops_parsers(sub) -> None:
    from .integrations import INTEGRATIONS

    names = list(INTEGRATIONS)
    status = sub.add_parser("status", help="per integration: last run, cursors, counts, oldest failure")
    status.add_argument("--tenant", default="demo")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    replay = sub.add_parser("replay", help="re-post ledger documents after a fix (by id, status or run)")
    replay.add_argument("--integration", choices=names, required=True)
    replay.add_argument("--tenant", default="demo")
    chosen = replay.add_mutually_exclusive_group()
    chosen.add_argument("--id", type=int, action="append", dest="ids", help="a ledger document id (repeatable)")
    chosen.add_argument("--status", choices=["failed", "quarantined", "skipped"])
    chosen.add_argument("--run-id", help="replay every failure of this flow run")
    replay.add_argument("--dry-run", action="store_true")
    replay.set_defaults(func=cmd_replay)

    recon = sub.add_parser("reconcile", help="compare source and target by natural key")
    recon.add_argument("--integration", choices=names, action="append", dest="integrations")
    recon.add_argument("--tenant", default="demo")
    recon.add_argument("--out", default=".ml-connector/reconcile", help="folder for the discrepancy CSVs")
    recon.add_argument("--json", action="store_true")
    recon.set_defaults(func=cmd_reconcile)

    setup = sub.add_parser("setup", help="save credentials blocks and create the alert automations")
    setup.add_argument("--tenant", required=True)
    setup.add_argument("--file", help="YAML with intacct:, sps: and optional alerts: {notify_block: NAME}; "
                       "without it, ML_CONNECTOR_<SYSTEM>_<FIELD> environment variables")
    setup.add_argument("--no-automations", action="store_true")
    setup.set_defaults(func=cmd_setup)

    check = sub.add_parser("check", help="authenticate against each configured system")
    check.add_argument("--tenant", default="demo")
    check.set_defaults(func=cmd_check)

    prune = sub.add_parser("prune", help="ledger retention: drop old events and settled payloads")
    prune.add_argument("--days", type=int, default=90)
    prune.set_defaults(func=cmd_prune)


def cmd_demo(args) -> int:
    from .demo import run_demo
    from .report import demo_ok, render_demo

    report = run_demo(documents=args.documents, faults=args.faults, seed=args.seed, workdir=args.workdir)
    print(render_demo(report))
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
    return 0 if demo_ok(report) else 1


def cmd_sandbox_serve(args) -> int:
    import threading

    from .sandbox.base import FaultPlan
    from .sandbox.serve import serve_in_thread

    emulator = _emulator(args.system, FaultPlan.profile(args.faults))
    served = serve_in_thread(emulator, port=args.port)
    if args.documents:
        _seed_for_serve(args.system, emulator, args.documents)
    print(json.dumps({"system": args.system, "base_url": served.base_url, "credentials": emulator.credentials()}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        served.stop()
    return 0


def _emulator(system: str, faults):
    if system == "intacct":
        from .sandbox.intacct import IntacctEmulator

        return IntacctEmulator(faults=faults)
    if system == "sterling":
        from .sandbox.sterling import SterlingEmulator

        return SterlingEmulator(faults=faults)
    if system == "adobe":
        from .sandbox.adobe import AdobeEmulator

        return AdobeEmulator(faults=faults)
    if system == "qbo":
        from .sandbox.qbo import QboEmulator

        return QboEmulator(faults=faults)
    from .sandbox.sps import SpsEmulator

    return SpsEmulator(faults=faults)


def _seed_for_serve(system: str, emulator, documents: int) -> None:
    if system == "adobe":
        from .sandbox._adobe_seed import seed_adobe

        with emulator.lock:
            seed_adobe(emulator.store, orders=documents)
        return
    from .mappings.tenant import load_tenant, tenant_path
    from .sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents

    mapping = load_tenant(tenant_path("demo"))
    if system == "sterling":
        return  # trading partners come from Intacct vendors once the Sterling flows exist
    if system == "qbo":  # the demo-qbo company (Ids as in tenants/demo-qbo.yaml) and its invoices
        from .demo_parts.sps_qbo import seed_qbo_company, seed_qbo_invoices

        qbo_mapping = load_tenant(tenant_path("demo-qbo"))
        seed_qbo_invoices(emulator, qbo_mapping, documents, 7, seed_qbo_company(emulator, qbo_mapping))
        return
    if system == "intacct":
        seed_intacct_master(emulator, mapping)
        seed_ar_invoices(emulator, mapping, documents, 7, Seeded())
    else:
        seed_sps_documents(emulator, mapping, documents, 7, 0.0, Seeded())


def cmd_preview(args) -> int:
    from .preview import preview

    try:
        print(preview(args.integration, Path(args.file), tenant=args.tenant))
    except Exception as exc:  # one line, no traceback: this is a user-facing translation tool
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


def cmd_status(args) -> int:
    from .ledger.store import Ledger
    from .ops.status import render, status
    from .settings import ledger_url

    rows = status(Ledger(ledger_url()))
    print(json.dumps(rows, default=str) if args.json else render(rows))
    return 0


def cmd_replay(args) -> int:
    from .flows.replay import replay

    result = replay(integration=args.integration, tenant=args.tenant, ids=args.ids, status=args.status,
                    flow_run_id=args.run_id, dry_run=args.dry_run)
    print(json.dumps(result, default=str))
    return 0


def cmd_reconcile(args) -> int:
    from .flows.reconcile import reconcile_flow

    summaries = reconcile_flow(tenant=args.tenant, integrations=args.integrations, out=args.out)
    for s in summaries:
        line = (f"{s['integration']:<14} source {s['source']:>7}  present {s['present']:>7}  "
                f"missing {s['missing']:>5}  duplicated {s['duplicated']:>5}  {s['csv']}")
        print(json.dumps(s) if args.json else line)
    return 1 if any(s["missing"] or s["duplicated"] for s in summaries) else 0


def cmd_setup(args) -> int:
    from .ops.setup import create_automations, read_credentials, save_blocks

    try:
        creds = read_credentials(Path(args.file) if args.file else None)
    except (OSError, ValueError) as exc:  # yaml errors are ValueErrors too
        print(f"error: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 2
    if not any(k in creds for k in ("intacct", "sps")):
        print("error: no credentials found (give --file or ML_CONNECTOR_<SYSTEM>_<FIELD> variables)", file=sys.stderr)
        return 2
    try:
        for name in save_blocks(args.tenant, creds):
            print(f"saved block {name}")
        if not args.no_automations:
            notify = (creds.get("alerts") or {}).get("notify_block")
            for name in create_automations(notify):
                print(f"automation {name}")
            if not notify:
                print("note: no alerts.notify_block given; the automations fire into the Prefect UI's event feed only")
    except Exception as exc:  # a validation error names the bad field; keep it to one line
        print(f"error: {' '.join(str(exc).split())[:500]}", file=sys.stderr)
        return 2
    return 0


def cmd_check(args) -> int:
    from .ops.setup import check

    results = check(args.tenant)
    for r in results:
        print(f"{r['system']:<10} {r['status']}" + (f": {r['reason']}" if r.get("reason") else ""))
    return 0 if all(r["status"] == "connected" for r in results) else 1


def cmd_prune(args) -> int:
    from datetime import timedelta

    from .ledger.store import Ledger
    from .ops.retention import prune
    from .settings import ledger_url

    print(json.dumps(prune(Ledger(ledger_url()), timedelta(days=args.days))))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
