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
    serve.add_argument("--system", choices=["intacct", "sps"], required=True)
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--faults", choices=["none", "light", "heavy"], default="none")
    serve.add_argument("--documents", type=int, default=0, help="seed this many demo documents")
    serve.set_defaults(func=cmd_sandbox_serve)

    preview = sub.add_parser("preview", help="translate one document file without posting")
    preview.add_argument("--integration", choices=["sps-intacct", "intacct-sps"], required=True)
    preview.add_argument("--tenant", default="demo")
    preview.add_argument("file")
    preview.set_defaults(func=cmd_preview)
    return p


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
    from .sandbox.sps import SpsEmulator

    return SpsEmulator(faults=faults)


def _seed_for_serve(system: str, emulator, documents: int) -> None:
    from .mappings.tenant import load_tenant, tenant_path
    from .sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents

    mapping = load_tenant(tenant_path("demo"))
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
