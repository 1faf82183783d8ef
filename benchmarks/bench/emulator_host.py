"""The emulator host: the SPS emulator and the target's (Intacct or QuickBooks Online) served over
HTTP (uvicorn, ``sandbox/serve.py``) in a process of their own, driven by JSON commands on its
stdin. The measured process then spends its CPU on the pipeline only, and its memory figures
are the pipeline's, not the emulators' (which hold every seeded file in memory)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

from . import QBO_TENANT, RUN_PY, TENANT
from .rss import mb, peak_rss_kb

COMMERCE_TENANT = "demo-commerce"


def emulator_host_main() -> int:
    """Child mode: answer JSON commands, one per line on stdin, one reply per line."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printing to stdout (uvicorn, warnings) goes to stderr
    sys.stdout = sys.stderr

    from ml_connector.demo.sandboxes import RSA_WEBHOOKS, Sandboxes, block_fields, with_latency
    from ml_connector.mappings.tenant import load_tenant, tenant_path
    from ml_connector.sandbox.intacct import IntacctEmulator
    from ml_connector.sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents
    from ml_connector.sandbox.sps import SpsEmulator

    mapping = load_tenant(tenant_path(TENANT))
    mappings = {TENANT: mapping}
    state: dict = {}

    def stop() -> None:
        if "sandboxes" in state:
            state.pop("sandboxes").close()

    def world(documents: int = 0, seed: int = 11, bad_fraction: float = 0.0, ar_invoices: int = 0,
              latency_ms: float = 0.0, target: str = "intacct") -> dict:
        """Fresh emulators: SPS and the ``target`` (intacct, or qbo for the demo-qbo tenant;
        ``adobe``: Adobe Commerce and Intacct for the demo-commerce tenant, no SPS)."""
        if target == "adobe":
            return adobe_world(seed=seed)
        stop()
        started = time.perf_counter()
        seeded = Seeded()
        sandboxes = state["sandboxes"] = Sandboxes(with_latency(latency_ms / 1000))
        if target == "qbo":
            from ml_connector.demo.parts.sps_qbo import seed_qbo_company
            from ml_connector.sandbox.qbo import QboEmulator

            other = sandboxes.add(QboEmulator())
        else:
            other = sandboxes.add(IntacctEmulator())
        sps = sandboxes.add(SpsEmulator())
        if target == "qbo":
            tenant_mapping = mappings.setdefault(QBO_TENANT, load_tenant(tenant_path(QBO_TENANT)))
            seed_qbo_company(other, tenant_mapping)
        else:
            tenant_mapping = mapping
            seed_intacct_master(other, mapping)
            if ar_invoices:
                seed_ar_invoices(other, mapping, ar_invoices, seed, seeded)
        if documents:
            seed_sps_documents(sps, tenant_mapping, documents, seed, bad_fraction, seeded)
        other.requests = sps.requests = 0
        uploads: dict[str, float] = {}  # in/ path -> wall time its upload was stored
        store = sps._store

        def timed_store(path: str, content: bytes, *, direction: str) -> None:
            store(path, content, direction=direction)
            if direction == "in":
                uploads.setdefault(path, time.time())

        sps._store = timed_store
        state.update(target=target, other=other, sps=sps, seeded=seeded, mapping=tenant_mapping, uploads=uploads)
        creds = sps.credentials()
        return {
            target: other.credentials(),
            "sps": {k: creds[k] for k in ("client_id", "client_secret", "base_url", "token_url", "audience")},
            "expected_bills": len(seeded.expected_bills) if target == "intacct" else 0,
            "expected_invoices": len(seeded.expected_invoices),
            "expected_pos": len(seeded.orders) if target == "qbo" else 0,
            "seed_seconds": round(time.perf_counter() - started, 2),
        }

    def stats() -> dict:
        target, other, sps, seeded = state["target"], state["other"], state["sps"], state["seeded"]
        written: dict = {}
        if target == "qbo":
            m = state["mapping"]
            # a partner without a vendor_ref gets its vendor from the flow's onboarding step, by name
            names = {(p.vendor_name or m.partners[pid].name): pid for pid, p in m.qbo.partners.items()
                     if not p.vendor_ref and pid in m.partners}
            vendors = {p.vendor_ref: pid for pid, p in m.qbo.partners.items() if p.vendor_ref}
            vendors |= {v["Id"]: names[v.get("DisplayName")] for v in other.entities("Vendor")
                        if v.get("DisplayName") in names}
            for po in other.entities("PurchaseOrder"):
                key = (vendors.get(po.get("VendorRef", {}).get("value")), po.get("DocNumber"))
                written[key] = written.get(key, 0) + 1
            expected = seeded.orders
        else:
            for b in other.bills():
                key = (b["VENDORID"], b["RECORDID"])
                written[key] = written.get(key, 0) + 1
            expected = seeded.expected_bills
        return {
            "intacct_requests": other.requests if target == "intacct" else 0,
            "qbo_requests": other.requests if target == "qbo" else 0,
            "sps_requests": sps.requests,
            "bills": len(written),
            "bills_missing": sum(1 for k in expected if k not in written),
            "bills_duplicated": sum(1 for c in written.values() if c > 1),
            "sps_out_left": len(sps.files("out/")),
            "sps_in": len(sps.inbox()),
            "host_peak_rss_mb": mb(peak_rss_kb()),
        }

    def qbo_event(n: int) -> dict:
        """A new QBO invoice for a mapped customer, and its signed webhook delivery."""
        from decimal import Decimal

        qbo, m = state["other"], state["mapping"]
        partners = [p.customer_ref for p in m.qbo.partners.values() if p.customer_ref]
        item = m.items[n % len(m.items)]
        qbo.add_invoice(partners[n % len(partners)],
                        [{"item_id": m.qbo.items[item.item_id], "qty": 2, "unit_price": item.unit_cost or Decimal("9.99")}],
                        doc_number=f"WH-{30000 + n}", txn_date="2026-11-02")
        change = [c for c in qbo.changes() if c.entity == "Invoice"][-1]
        body, headers = qbo.signed_notification([change], fmt="cloudevents")
        return {"body": body.decode(), "headers": dict(headers)}

    def adobe_world(seed: int = 11) -> dict:
        """Adobe Commerce (a small seeded store) and the Commerce company in Intacct (procure
        side, vendors already there), served over HTTP; Intacct documents' creation is timed."""
        from ml_connector.demo.parts.commerce_intacct_ap import seed_procure, setup_commerce_company
        from ml_connector.sandbox.adobe import AdobeEmulator
        from ml_connector.sandbox.adobe.seed import seed_adobe

        stop()
        started = time.perf_counter()
        sandboxes = state["sandboxes"] = Sandboxes()
        commerce, intacct = sandboxes.add(AdobeEmulator()), sandboxes.add(IntacctEmulator())
        tenant_mapping = mappings.setdefault(COMMERCE_TENANT, load_tenant(tenant_path(COMMERCE_TENANT)))
        setup_commerce_company(intacct)
        with commerce.lock:
            seed_adobe(commerce.store, orders=4, seed=seed, bad=False)
            seed_procure(intacct, commerce.store, tenant_mapping)
        posted: dict[str, float] = {}  # Intacct document -> wall time it was stored
        insert = intacct.store.insert

        def timed_insert(object_name: str, values: dict, items=()) -> str:
            recordno = insert(object_name, values, items)
            if object_name in ("APBILL", "PODOCUMENT"):
                posted.setdefault(f"{object_name}:{recordno}", time.time())
            return recordno

        intacct.store.insert = timed_insert
        intacct.requests = commerce.requests = 0
        state.update(target="adobe", other=intacct, commerce=commerce, mapping=tenant_mapping, posted=posted)
        return {"adobe": block_fields(commerce, RSA_WEBHOOKS), "intacct": intacct.credentials(),
                "seed_seconds": round(time.perf_counter() - started, 2)}

    def adobe_event(n: int) -> dict:
        """A new order of a seeded customer (whose vendor Intacct has), and its signed webhook."""
        commerce = state["commerce"]
        with commerce.lock:
            store = commerce.store
            customer = sorted(store.rows("customer"), key=lambda c: c["id"])[0]
            product = store.rows("product")[n % len(store.rows("product"))]
            order = store.place_order(store_id=customer.get("store_id") or 1, customer=customer, lines=[
                {"sku": product["sku"], "name": product["name"], "product_id": product["id"],
                 "price": product["price"], "qty": 1 + n % 3}])
        body, headers = commerce.webhook_delivery("order", order["entity_id"])
        return {"body": body.decode(), "headers": dict(headers), "document": f"CO-{order['increment_id']}"}

    def intacct_posted() -> dict:
        posted = state["posted"]
        return {"count": len(posted), "last_upload": max(posted.values(), default=None)}

    def inbox() -> dict:
        uploads = state["uploads"]
        return {"count": len(state["sps"].inbox()), "last_upload": max(uploads.values(), default=None)}

    handlers = {"world": world, "stats": stats, "qbo_event": qbo_event, "inbox": inbox,
                "uploads": lambda: dict(state["uploads"]), "quit": lambda: stop() or {}}
    handlers.update(adobe_event=adobe_event, intacct_posted=intacct_posted)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            reply = {"ok": True, "result": handlers[command["op"]](**command.get("args", {}))}
        except Exception as exc:  # the parent raises it
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        if command["op"] == "quit":
            break
    return 0


class EmulatorHost:
    """The parent's handle on the emulator host process. ``latency_ms`` delays every HTTP
    request to the emulators (0: the plain sandbox on loopback)."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self.proc = subprocess.Popen([sys.executable, str(RUN_PY), "--emulator-host"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=dict(os.environ))

    def call(self, op: str, **args) -> dict:
        assert self.proc.stdin and self.proc.stdout
        if op == "world" and self.latency_ms:
            args.setdefault("latency_ms", self.latency_ms)
        self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator host died (exit code {self.proc.wait()})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(f"emulator host, {op}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("quit")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> EmulatorHost:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
