"""The ``ml-connector`` console script: what the Prefect UI does not do.

Imports are inside the commands: Prefect reads its settings at import, and the demo must set
its own home and server before that happens.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .ledger.migrate import LedgerSchemaError  # no Prefect import: safe before the demo sets its home
    from .mappings.tenant import TenantFileError
    from .settings import SettingsError, current

    try:  # a bad ML_CONNECTOR_* value: one line naming it, before any command starts work
        configured = current()
    except SettingsError as exc:
        return _error(str(exc))
    workdir = args.top_workdir or configured.workdir
    if workdir:  # the one place: tenants/ and .ml-connector/ are found from here by every command
        for name in ("file",):  # files named on the command line stay relative to where it was typed
            if getattr(args, name, None):
                setattr(args, name, str(Path(getattr(args, name)).resolve()))
        try:
            os.chdir(workdir)
        except OSError as exc:
            return _error(f"work dir {workdir} ({'--workdir' if args.top_workdir else 'ML_CONNECTOR_WORKDIR'}): "
                          f"{exc.strerror or exc}")
    try:
        return args.func(args)
    except LedgerSchemaError as exc:  # its message is one line and says what to run
        return _error(str(exc))
    except TenantFileError as exc:  # file, line, key path and what is allowed, in one line
        return _error(str(exc))


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="ml-connector", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--workdir", dest="top_workdir", metavar="DIR",
                   help="where tenants/ and .ml-connector/ (the ledger) are (default: $ML_CONNECTOR_WORKDIR, "
                        "else the current directory)")
    sub = p.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="run every integration against the embedded sandbox")
    demo.add_argument("--documents", type=int, default=200, help="inbound documents to generate (default 200)")
    demo.add_argument("--faults", choices=["none", "light", "heavy"], default="none")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--workdir", help="where the demo keeps its ledger and Prefect home (default: a temp dir)")
    demo.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    demo.add_argument("--tenants", type=_at_least_one, default=1,
                      help="tenants side by side on one ledger and Prefect server, each with its own companies "
                           "holding the same partner ids and document numbers (default 1)")
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
    wserve = wsub.add_parser("serve", help="serve POST /webhooks/qbo (QuickBooks Online) and /webhooks/adobe "
                                           "(Adobe Commerce) on 127.0.0.1")
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
    _tenant_option(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    replay = sub.add_parser("replay", help="re-post ledger documents after a fix (by id, status or run)")
    replay.add_argument("--integration", choices=names, required=True)
    _tenant_option(replay)
    chosen = replay.add_mutually_exclusive_group()
    chosen.add_argument("--id", type=int, action="append", dest="ids", help="a ledger document id (repeatable)")
    chosen.add_argument("--status", choices=["failed", "quarantined", "skipped"])
    chosen.add_argument("--run-id", help="replay every failure of this flow run")
    replay.add_argument("--dry-run", action="store_true")
    replay.add_argument("--resend", action="store_true",
                        help="send the posted documents --id again on purpose (refused where the target would double "
                             "them); needs --why")
    replay.add_argument("--why", help="why they are resent, one line (kept in the ledger)")
    replay.add_argument("--who", help="who asks for the resend (default: the OS user)")
    replay.set_defaults(func=cmd_replay)

    recon = sub.add_parser("reconcile", help="compare source and target by natural key, and each document "
                                             "with its latest revision")
    recon.add_argument("--integration", choices=names, action="append", dest="integrations")
    _tenant_option(recon)
    recon.add_argument("--out", default=".ml-connector/reconcile", help="folder for the discrepancy CSVs")
    recon.add_argument("--json", action="store_true")
    recon.set_defaults(func=cmd_reconcile)

    setup = sub.add_parser("setup", help="save credentials blocks and create the alert automations")
    _tenant_option(setup)
    setup.add_argument("--file", help="YAML with intacct:, sps: and optional alerts: {notify_block: NAME}; "
                       "without it, ML_CONNECTOR_<SYSTEM>_<FIELD> environment variables")
    setup.add_argument("--no-automations", action="store_true")
    setup.add_argument("--no-verify", action="store_true",
                       help="save the credentials without signing in to each system first (offline setups)")
    setup.set_defaults(func=cmd_setup)

    check = sub.add_parser("check", help="authenticate against each configured system")
    _tenant_option(check)
    check.set_defaults(func=cmd_check)

    prune = sub.add_parser("prune", help="ledger retention: drop old events and settled payloads")
    _tenant_option(prune)
    prune.add_argument("--days", type=int, default=90)
    prune.set_defaults(func=cmd_prune)

    ledger = sub.add_parser("ledger", help="the ledger's schema")
    lsub = ledger.add_subparsers(dest="ledger_command")
    upgrade = lsub.add_parser("upgrade", help="bring the ledger (ML_CONNECTOR_LEDGER_URL) to this build's schema")
    upgrade.add_argument("--tenant", help="the tenant of the rows written before tenants existed "
                                          "(required when there are any)")
    upgrade.set_defaults(func=cmd_ledger_upgrade)


def _tenant_option(parser) -> None:
    # Required, with no default from the environment: these commands read or change one
    # company's documents, and a tenant the command line does not show (shell history, a
    # runbook, a pasted command) is how an operator prunes or replays the wrong company.
    # Every command the product prints carries --tenant, so a copied one is complete.
    parser.add_argument("--tenant", required=True, help="the tenant (the name of its mapping file)")


def _error(message: str) -> int:
    """One line on stderr, exit code 2: what the operator must change, no traceback."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _prefect_unreachable(env_only: bool = False) -> str | None:
    """Why the Prefect API cannot be used, in one line naming its URL, or None (reachable, or
    none configured: Prefect then starts a temporary server of its own). Checked before a
    command talks to Prefect, so a dead server is not reported as a failure of a target system.
    ``env_only``: look at PREFECT_API_URL only, without importing Prefect (the demo sets its
    home first)."""
    if env_only:
        import httpx

        url = os.environ.get("PREFECT_API_URL")
        if not url:
            return None
        try:
            httpx.get(f"{url.rstrip('/')}/health", timeout=10).raise_for_status()
            return None
        except httpx.HTTPError as exc:
            failure: BaseException | None = exc
    else:
        from prefect.settings import get_current_settings

        url = get_current_settings().api.url
        if not url:
            return None
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            failure = client.api_healthcheck()
        if failure is None:
            return None
    reason = " ".join(str(failure).split()) or type(failure).__name__
    return (f"the Prefect API at {url} is unreachable ({type(failure).__name__}: {reason}); this is Prefect, "
            "not the target system: start the server (prefect server start) or fix PREFECT_API_URL")


def _note_new_ledger() -> None:
    """Say where, on stderr, when this command is about to create a new, empty SQLite ledger:
    an operator in the wrong folder would otherwise read an empty ledger as "nothing to do"."""
    from sqlalchemy.engine import make_url

    from .settings import ledger_url

    url = make_url(ledger_url())
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.exists():
            print(f"note: creating a new ledger at {path.resolve()} (no ledger there yet; the ledger is found "
                  "from ML_CONNECTOR_WORKDIR or --workdir, else the current directory)", file=sys.stderr)


def _unknown_tenant(name: str) -> str | None:
    """Why ``name`` is not a usable tenant (no mapping file, or one that does not load), or None:
    a mistyped tenant would otherwise read as an empty ledger. Checked before any ledger opens."""
    from .mappings.tenant import TenantFileError, load_tenant, tenant_path

    try:
        load_tenant(tenant_path(name))
    except TenantFileError as exc:
        return str(exc)
    return None


def _tenant_runs(tenant: str):
    """Flow runs started here carry the tenant's tag, like every run of a tenant's work."""
    from prefect import tags

    from .tasks.ops import tenant_tag

    return tags(tenant_tag(tenant))


def cmd_demo(args) -> int:
    if reason := _prefect_unreachable(env_only=True):
        return _error(reason)
    from .demo import demo_passed, render, run_demo

    report = run_demo(documents=args.documents, faults=args.faults, seed=args.seed, workdir=args.workdir,
                      tenants=args.tenants)
    print(render(report))
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
    return 0 if demo_passed(report) else 1


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def cmd_sandbox_serve(args) -> int:
    import threading

    from .sandbox.base import FaultPlan
    from .sandbox.serve import serve_in_thread

    emulator = _emulator(args.system, FaultPlan.profile(args.faults))
    served = serve_in_thread(emulator, port=args.port)
    if args.documents:
        _seed_for_serve(args.system, emulator, args.documents)
    print(json.dumps({"system": args.system, "base_url": served.base_url, "credentials": emulator.credentials()}),
          flush=True)
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
        from .sandbox.adobe.seed import seed_adobe

        with emulator.lock:
            seed_adobe(emulator.store, orders=documents)
        return
    from .mappings.tenant import load_tenant, tenant_path
    from .sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents

    mapping = load_tenant(tenant_path("demo"))
    if system == "sterling":
        return  # trading partners come from Intacct vendors once the Sterling flows exist
    if system == "qbo":  # the demo-qbo company (Ids as in tenants/demo-qbo.yaml) and its invoices
        from .demo.parts.sps_qbo import seed_qbo_company, seed_qbo_invoices

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
    from .ops.status import render, status
    from .runtime.tenant import tenant as tenant_resources

    if reason := _unknown_tenant(args.tenant):
        return _error(reason)
    _note_new_ledger()
    res = tenant_resources(args.tenant)
    rows = status(res.ledger, res.mapping)
    print(json.dumps(rows, default=str) if args.json else render(rows, args.tenant))
    return 0


def cmd_replay(args) -> int:
    from .flows.replay import refusal, replay, select
    from .runtime.tenant import tenant as tenant_resources

    if (args.why or args.who) and not args.resend:
        return _error("--why and --who go with --resend")
    if args.resend and (args.status or args.run_id):
        return _error("a resend names its documents by --id, not by --status or --run-id")
    if reason := _unknown_tenant(args.tenant) or _prefect_unreachable():
        return _error(reason)
    _note_new_ledger()
    ledger = tenant_resources(args.tenant).ledger  # opened here: a ledger behind is refused before any run starts
    if args.resend:
        return _resend(args, ledger)
    if args.ids and (reason := refusal(ledger, args.integration, args.ids)):
        return _error(reason)
    if not select(ledger, args.integration, ids=args.ids, status=args.status, flow_run_id=args.run_id):
        chosen = (f"run {args.run_id} left no failed documents" if args.run_id
                  else f"no {args.status or 'failed'} documents")
        print(f"nothing to replay: {chosen} of {args.integration} for tenant {args.tenant}", file=sys.stderr)
        return 1
    with _tenant_runs(args.tenant):
        result = replay(integration=args.integration, tenant=args.tenant, ids=args.ids, status=args.status,
                        flow_run_id=args.run_id, dry_run=args.dry_run)
    print(json.dumps(result, default=str))
    return 0


def _resend(args, ledger) -> int:
    """``replay --resend``: refused in one line before any run starts, else one replay run."""
    from .flows.replay import replay, resend_refusal

    who = args.who or _os_user()
    if reason := resend_refusal(ledger, args.integration, args.ids or [], who, args.why):
        return _error(reason)
    with _tenant_runs(args.tenant):
        result = replay(integration=args.integration, tenant=args.tenant, ids=args.ids, dry_run=args.dry_run,
                        resend=True, who=who, why=args.why)
    print(json.dumps(result, default=str))
    return 0


def _os_user() -> str | None:
    """The operator's login name, where the OS knows it."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        return None


def cmd_reconcile(args) -> int:
    from .flows.reconcile import reconcile_flow
    from .integrations import INTEGRATIONS, configured
    from .runtime.tenant import tenant as tenant_resources

    if reason := _unknown_tenant(args.tenant) or _prefect_unreachable():
        return _error(reason)
    _note_new_ledger()
    res = tenant_resources(args.tenant)
    for name in args.integrations or []:
        if not configured(INTEGRATIONS[name], res.mapping):
            return _error(f"tenant {args.tenant}'s mapping file does not configure {name}")
    with _tenant_runs(args.tenant):
        summaries = reconcile_flow(tenant=args.tenant, integrations=args.integrations, out=args.out)
    for s in summaries:
        line = (f"{s['integration']:<14} source {s['source']:>7}  present {s['present']:>7}  "
                f"missing {s['missing']:>5}  duplicated {s['duplicated']:>5}  stale {s['stale']:>5}  "
                f"(changed {s['changed']}, cancelled {s['cancelled']})  {s['csv']}")
        print(json.dumps(s) if args.json else line)
    return 1 if any(s["missing"] or s["duplicated"] or s["stale"] for s in summaries) else 0


def cmd_setup(args) -> int:
    from .ops.setup import create_automations, read_credentials, save_verified

    try:
        creds = read_credentials(Path(args.file) if args.file else None)
    except (OSError, ValueError) as exc:  # CredentialsFileError: file, line and key in one line
        return _error(str(exc)[:300])
    if not any(k in creds for k in ("intacct", "sps", "qbo", "sterling", "adobe")):
        return _error("no credentials found (give --file or ML_CONNECTOR_<SYSTEM>_<FIELD> variables)")
    mapping = None if args.no_automations else _mapping(args.tenant)  # before anything is saved
    if reason := _prefect_unreachable():
        return _error(reason)
    try:
        saved, failures = save_verified(args.tenant, creds, mapping, verify=not args.no_verify)
    except Exception as exc:  # a validation error names the bad field; keep it to one line
        return _error(str(exc)[:500])
    if failures:  # put back as they were: nothing of this file stays saved
        why = "; ".join(f"{f['system']}: {f.get('reason', f['status'])}" for f in failures)
        return _error(f"credentials not saved, {why} (fix them, or --no-verify saves them unchecked)")
    for name in saved:
        print(f"saved block {name}")
    try:
        if mapping is not None:
            notify = (creds.get("alerts") or {}).get("notify_block")
            for name in create_automations(args.tenant, mapping, notify):
                print(f"automation {name}")
            if not notify:
                print("note: no alerts.notify_block given; the automations fire into the Prefect UI's event feed only")
    except Exception as exc:
        return _error(str(exc)[:500])
    return 0


def _mapping(tenant: str):
    """The tenant's mapping file, loaded (FileNotFoundError names where it was looked for)."""
    from .mappings.tenant import load_tenant, tenant_path

    return load_tenant(tenant_path(tenant))


def cmd_check(args) -> int:
    from .ops.setup import check

    if reason := _unknown_tenant(args.tenant) or _prefect_unreachable():
        return _error(reason)
    _note_new_ledger()
    results = check(args.tenant)
    for r in results:
        print(f"{r['system']:<10} {r['status']}" + (f": {r['reason']}" if r.get("reason") else ""))
    return 0 if all(r["status"] == "connected" for r in results) else 1


def cmd_prune(args) -> int:
    from datetime import timedelta

    from .ledger.store import Ledger
    from .ops.retention import prune
    from .settings import ledger_url

    if reason := _unknown_tenant(args.tenant):
        return _error(reason)
    _note_new_ledger()
    print(json.dumps(prune(Ledger(ledger_url(), tenant=args.tenant), timedelta(days=args.days))))
    return 0


def cmd_ledger_upgrade(args) -> int:
    from sqlalchemy.engine import make_url

    from .ledger.migrate import upgrade
    from .settings import ledger_url

    if args.tenant and (reason := _unknown_tenant(args.tenant)):
        return _error(reason)
    url = ledger_url()
    before, after = upgrade(url, args.tenant)
    shown = make_url(url).render_as_string(hide_password=True)
    if before == after:
        print(f"ledger {shown} already at {after}")
    elif before is None:
        print(f"ledger {shown} created at {after}")
    else:
        print(f"ledger {shown} upgraded from {before} to {after}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
