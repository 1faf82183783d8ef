"""The tenant-scale benchmark's world: a Prefect server of its own (its CPU is measured), the five
emulators in a process of their own (external systems: their CPU is not the machine's budget),
and N tenants that each configure every polled integration.

Every tenant's mapping file is ``tenants/demo-qbo.yaml`` with the ``sterling`` section of
``demo.yaml`` and the ``commerce`` section of ``demo-commerce.yaml``, renamed; tenants share
one emulator per system (one Intacct company, one SPS account, one Sterling, one Commerce store)
with blocks of their own, except QuickBooks, where each tenant is a company (realm) of its own
because refresh tokens rotate per company. Setup is the product's: ``ops.setup.save_blocks``
(blocks, and each realm's QBO limits as Prefect global concurrency limits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ("intacct", "sps", "sterling", "qbo", "adobe")


def combined_mapping() -> dict:
    """One tenant file that configures every integration (see the module docstring)."""
    base = yaml.safe_load((ROOT / "tenants" / "demo-qbo.yaml").read_text())
    base["sterling"] = yaml.safe_load((ROOT / "tenants" / "demo.yaml").read_text())["sterling"]
    base["commerce"] = yaml.safe_load((ROOT / "tenants" / "demo-commerce.yaml").read_text())["commerce"]
    return base


def write_tenant_files(directory: Path, names: list[str]) -> None:
    """Every tenant's mapping file: the combined mapping under its name (module docstring)."""
    from ml_connector.demo import sandboxes

    mapping = combined_mapping()
    sandboxes.write_tenant_files(directory, {name: yaml.safe_dump({**mapping, "tenant": name}, sort_keys=False)
                                             for name in names})


def emulators_main() -> int:
    """Child mode: serve the five emulators, answer JSON commands on stdin, one per line."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # uvicorn and warnings go to stderr
    sys.stdout = sys.stderr

    from ml_connector.demo.parts.commerce_intacct_ap import setup_commerce_company
    from ml_connector.demo.sandboxes import RSA_WEBHOOKS, Sandboxes, block_fields
    from ml_connector.mappings.tenant import TenantMapping
    from ml_connector.sandbox.adobe import AdobeEmulator
    from ml_connector.sandbox.intacct import IntacctEmulator
    from ml_connector.sandbox.qbo import QboEmulator
    from ml_connector.sandbox.sps import SpsEmulator
    from ml_connector.sandbox.sterling import SterlingEmulator

    sandboxes = Sandboxes()
    for emulator in (IntacctEmulator(), SpsEmulator(), SterlingEmulator(), QboEmulator(), AdobeEmulator()):
        sandboxes.add(emulator)
    emulators = sandboxes.emulators
    mapping = TenantMapping.model_validate({**combined_mapping(), "tenant": "x"})
    intacct = emulators["intacct"]
    for partner in mapping.partners.values():  # vendors only: no Intacct customer to push to Commerce
        intacct.add_vendor(partner.vendor_id, partner.name)
    setup_commerce_company(intacct)
    realms = iter(range(9341453060000000, 9341453069999999))

    def credentials(count: int = 1) -> list[dict]:
        """Shared credentials of every system, with a new QBO company (realm) each."""
        out = []
        for _ in range(count):
            creds = {system: block_fields(e, RSA_WEBHOOKS) for system, e in emulators.items() if system != "qbo"}
            creds["qbo"] = emulators["qbo"].credentials(emulators["qbo"].add_realm(str(next(realms))))
            out.append(creds)
        return out

    def stats() -> dict:
        return {system: getattr(e, "requests", 0) for system, e in emulators.items()}

    handlers = {"credentials": credentials, "stats": stats}
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        try:
            reply = {"ok": True, "result": handlers[command["op"]](**command.get("args", {}))}
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
    sandboxes.close()
    return 0


class Emulators:
    """The emulator process (``tenant_scale.py --emulators``) and its command channel."""

    def __init__(self, script: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(script), "--emulators"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def call(self, op: str, **args):
        self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return reply["result"]

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()


def start_prefect_server(home: Path) -> tuple[subprocess.Popen, str]:
    """``prefect server start`` on a free port with its own home and SQLite database."""
    import httpx

    from ml_connector.sandbox.serve import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=open(home / "server.log", "wb"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("prefect server did not become healthy in 180 s")


def set_up_tenants(emulators: Emulators, names: list[str]) -> None:
    """Blocks for every system (and each QBO company's limits), as ``ml-connector setup`` does."""
    from ml_connector.credentials import BLOCKS
    from ml_connector.ops.setup import save_blocks

    for name, creds in zip(names, emulators.call("credentials", count=len(names)), strict=True):
        save_blocks(name, {system: {k: v for k, v in fields.items() if k in BLOCKS[system].model_fields}
                           for system, fields in creds.items()})
