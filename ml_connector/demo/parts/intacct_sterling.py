"""Demo part: Sage Intacct -> IBM Sterling B2Bi (X12 810/850, 997s back).

Runs after SpsIntacctPart on the same Intacct emulator: the AP bills that part posts become
810s; purchase orders are seeded directly into the sandbox (it has no create_potransaction).
Partners answer with 997s: most accept, NORTHWIND rejects, GLOBEX_RETAIL stays silent (its
documents end overdue; the demo's mailbox run uses a zero-minute deadline to show it).
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from ...connectors import x12
from ...connectors.errors import BadDocument
from ...ledger.x12_controls import ack_counts
from ...runtime.tenant import tenant as tenant_resources
from ...sandbox.intacct.po import add_purchase_order
from ...sandbox.sterling import SterlingEmulator
from ..world import DemoWorld, RunSpec, money_of, recon
from .sps_intacct import intacct


def sterling(world: DemoWorld) -> SterlingEmulator:
    return world.emulator("sterling", lambda: SterlingEmulator(faults=world.fault_plan(5),
                                                               **world.identity("sterling")))


class IntacctSterlingPart:
    tenant_base = None  # the world's own tenant (demo), on SpsIntacctPart's Intacct company

    def __init__(self) -> None:
        self.pos: set[tuple[str, str]] = set()

    def seed(self, world: DemoWorld) -> None:
        emulator = sterling(world)
        emulator.answer_with_997("accept")
        emulator.answer_with_997("reject", partner="NORTHWIND")
        emulator.answer_with_997("none", partner="GLOBEX_RETAIL")
        settings = world.mapping.sterling
        vendors = list(settings.partners) if settings else []
        items = world.mapping.items
        for n in range(max(world.documents // 10, 1) if vendors else 0):
            vendor = vendors[n % len(vendors)]
            item = items[n % len(items)]
            docno = f"PO-{70000 + n}"
            add_purchase_order(intacct(world), docno, vendor,
                               [{"item_id": item.item_id, "quantity": 1 + n % 12,
                                 "price": world.price(item.unit_cost or "1.00")}],
                               date(2026, 10, 1))
            self.pos.add((settings.partners[vendor].partner_name, docno))

    def save_blocks(self, world: DemoWorld) -> None:
        world.sandboxes.save_blocks(world.tenant, ["sterling"])

    def runs(self, world: DemoWorld) -> list[RunSpec]:
        from ...flows.intacct_to_sterling import intacct_to_sterling
        from ...flows.sterling_mailbox import sterling_mailbox

        def mailbox(**kwargs):
            return sterling_mailbox(overdue_after_minutes=0, **kwargs)

        return [
            RunSpec("intacct-sterling", intacct_to_sterling),
            RunSpec("sterling-inbound", mailbox, lambda: sterling(world).pending_acks() == 0),
        ]

    def reconcile(self, world: DemoWorld, integration: str) -> dict:
        ledger = tenant_resources(world.part_tenant(self)).ledger
        if integration == "sterling-inbound":
            return {**recon(set(), Counter()), **ack_counts(ledger)}
        settings = world.mapping.sterling
        partner_of = {v: p.partner_name for v, p in settings.partners.items()}
        expected = {("850", p, n) for p, n in self.pos}
        expected |= {("810", partner_of[b["VENDORID"]], b["RECORDID"]) for b in intacct(world).bills()
                     if b["VENDORID"] in partner_of}
        counts = Counter(key for key, _ in delivered_documents(sterling(world)))
        return {**recon(expected, counts), **{f"ack_{k}": v for k, v in ack_counts(ledger).items()}}

    def contents(self, world: DemoWorld, integration: str) -> dict | None:
        """The money of each X12 document delivered, by its key (world.cross_tenant_check)."""
        if integration != "intacct-sterling":
            return None
        return {key: money_of(doc) for key, doc in delivered_documents(sterling(world)) if doc is not None}


def delivered_documents(emulator: SterlingEmulator) -> list[tuple[tuple, object]]:
    """Every X12 document delivered to a partner's mailbox, keyed (set id, partner, number); an
    interchange that does not parse is keyed ("unreadable", partner, name) with None."""
    found = []
    for p in emulator.partners():
        for d in emulator.delivered(p["partnerName"]):
            try:
                ic = x12.parse(d["content"])
            except BadDocument:
                found.append((("unreadable", p["partnerName"], d["name"]), None))
                continue
            for g in ic.groups:
                for ts in g.sets:
                    doc = x12.decode_document(ts)
                    number = getattr(doc, "invoice_number", None) or getattr(doc, "po_number", None)
                    found.append(((ts.id, p["partnerName"], number), doc))
    return found
