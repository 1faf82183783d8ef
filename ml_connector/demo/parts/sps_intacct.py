"""Demo part: SPS Commerce <-> Sage Intacct, both directions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from ...connectors.errors import BadDocument
from ...connectors.intacct._xml import format_value
from ...connectors.sps import rsx
from ...connectors.sps.models import natural_key
from ...mappings.sps_to_intacct import bill_number
from ...runtime.tenant import tenant as tenant_resources
from ...sandbox.intacct import IntacctEmulator
from ...sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents
from ...sandbox.sps import SpsEmulator
from ..world import DemoWorld, RunSpec, money_of, recon
from .revisions import RevisionTraffic, order_revisions

BAD_FRACTION = 0.03  # the share of hostile or broken inbound files the demo mixes in
REVERSED = "Reversed"  # a bill cancelled in place (tenant bill_cancel: reverse) is no longer live


def intacct(world: DemoWorld) -> IntacctEmulator:
    return world.emulator("intacct", lambda: IntacctEmulator(faults=world.fault_plan(0), session_ttl=world.short_ttl,
                                                             **world.identity("intacct")))


def sps(world: DemoWorld) -> SpsEmulator:
    return world.emulator("sps", lambda: SpsEmulator(faults=world.fault_plan(1), token_ttl=world.short_ttl,
                                                     **world.identity("sps")))


class SpsIntacctPart:
    """Generated RSX documents (a few hostile ones among them) in, AR invoices out; orders
    changed and cancelled after posting and before their original (parts/revisions.py)."""

    tenant_base = None  # the world's own tenant (demo)

    def __init__(self) -> None:
        self.seeded = Seeded()
        self.revisions = RevisionTraffic([], {})
        self.invoice_changes: dict[str, list[str]] = {"edit": [], "reverse": []}  # AR invoice numbers
        self.invoices_changed = False

    def seed(self, world: DemoWorld) -> None:
        seed_intacct_master(intacct(world), world.mapping)
        seed_ar_invoices(intacct(world), world.priced(world.mapping), max(world.documents // 4, 1), world.seed,
                         self.seeded)
        seed_sps_documents(sps(world), world.mapping, world.documents, world.seed, BAD_FRACTION, self.seeded,
                           catalogue=world.catalogue())
        self.revisions = order_revisions(max(world.documents // 10, 4), world.seed + 3, world.catalogue())
        self.revisions.drop_next(sps(world).put_out)

    def save_blocks(self, world: DemoWorld) -> None:
        world.sandboxes.save_blocks(world.tenant, ["intacct", "sps"])

    def runs(self, world: DemoWorld) -> list[RunSpec]:
        from ...flows.intacct_to_sps import intacct_to_sps
        from ...flows.sps_to_intacct import sps_to_intacct

        def acknowledged() -> bool:  # every posted order has its OrderAck
            ledger = tenant_resources(world.tenant).ledger
            return not ledger.posted_without_followup("sps-intacct", "order", "intacct-sps", "orderack", limit=1)

        def settled(integration: str = "sps-intacct") -> bool:  # nothing read and waiting to be written
            pending = tenant_resources(world.tenant).ledger.status_counts(integration)
            return not pending.get("received") and not pending.get("posting")

        return [
            RunSpec("sps-intacct", self.revisions.runs(sps_to_intacct, sps(world).put_out, settled),
                    lambda: self.revisions.done() and not sps(world).files("out/")),
            RunSpec("intacct-sps", self.outbound(world, intacct_to_sps, lambda: settled("intacct-sps") and acknowledged()),
                    lambda: self.invoices_changed and acknowledged()),
        ]

    def outbound(self, world: DemoWorld, flow, sent: Callable[[], bool]):
        """Intacct -> SPS as the demo runs it: once a run has sent everything, a person doubles
        one sent AR invoice's lines and reverses another (the next run sends a replacement and
        a cancellation)."""
        def run(tenant: str, return_state: bool = True):
            if getattr(self, "_outbound_ran", False) and not self.invoices_changed and sent():
                # among the invoices already sent: a change of one still pending is no revision
                ledger = tenant_resources(world.tenant).ledger
                posted = sorted(r.natural_key for r in ledger.documents("intacct-sps", status="posted", doc_type="invoice"))
                self.invoice_changes = {"edit": posted[:1], "reverse": posted[1:2]}
                now = datetime.now(UTC)
                for number in self.invoice_changes["edit"]:
                    edit_ar_invoice(intacct(world), number, factor=Decimal(2), when=now)
                for number in self.invoice_changes["reverse"]:
                    edit_ar_invoice(intacct(world), number, state=REVERSED, when=now)
                self.invoices_changed = True
            self._outbound_ran = True
            return flow(tenant=tenant, return_state=return_state)

        return run

    def expected_bills(self, world: DemoWorld) -> set[tuple[str, str]]:
        vendor = {pid: p.vendor_id for pid, p in world.mapping.partners.items()}
        return self.seeded.expected_bills | {(vendor[p], bill_number("order", n)) for p, n in self.revisions.in_target()}

    def reconcile(self, world: DemoWorld, integration: str) -> dict:
        if integration == "sps-intacct":
            counts = Counter((b["VENDORID"], b["RECORDID"]) for b in intacct(world).bills() if b["STATE"] != REVERSED)
            return recon(self.expected_bills(world), counts)
        # each document's latest file: live, or a cancellation (the reversed AR invoice)
        counts = Counter((*key, "cancelled" if cancelled else "live") for key, cancelled in latest_sent(sps(world)))
        reversed_ = set(self.invoice_changes["reverse"]) if self.invoices_changed else set()
        expected = {("invoice", p, n, "cancelled" if n in reversed_ else "live") for p, n in self.seeded.expected_invoices}
        # every order posted is acknowledged, a cancelled one too when it posted before its cancellation
        expected |= {("orderack", p, n, "live") for p, n in self.seeded.orders | self.revisions.posted()}
        return recon(expected, counts)

    def contents(self, world: DemoWorld, integration: str) -> dict:
        """The money of each document in the target, by its key (see world.cross_tenant_check)."""
        if integration == "sps-intacct":
            return {(b["VENDORID"], b["RECORDID"]): ("total", str(b["total"])) for b in intacct(world).bills()}
        return {key: money_of(doc) for key, doc in inbox_documents(sps(world)) if doc is not None}


def inbox_documents(emulator: SpsEmulator) -> list[tuple[tuple, object]]:
    """Every document we sent to SPS (its ``in/``), keyed (doc type, partner, number); a file that
    does not parse is keyed ("unreadable", path) with None."""
    found = []
    for path, content in emulator.inbox().items():
        try:
            docs = rsx.parse(content, filename=path.rsplit("/", 1)[-1])
        except BadDocument:
            found.append((("unreadable", path), None))
            continue
        found += [((doc_type, *natural_key(doc_type, doc)), doc) for doc_type, doc in docs]
    return found


def edit_ar_invoice(emulator: IntacctEmulator, record_id: str, *, factor: Decimal | None = None,
                    state: str | None = None, when: datetime) -> None:
    """Change an AR invoice in the emulated company as a person does (its lines' amounts times
    ``factor``, or its state), stamping WHENMODIFIED as Intacct does."""
    with emulator.lock:
        [(recordno, record)] = [(k, r) for k, r in emulator.store.tables["ARINVOICE"].items()
                                if r["RECORDID"] == record_id]
        if factor is not None:
            total = Decimal(0)
            for line in emulator.store.items[("ARINVOICE", recordno)]:
                amount = Decimal(line["TRX_AMOUNT"]) * factor
                line["TRX_AMOUNT"] = line["AMOUNT"] = format(amount, "f")
                total += amount
            for field in ("TOTALENTERED", "TRX_TOTALENTERED", "TOTALDUE", "TRX_TOTALDUE"):
                record[field] = format(total, "f")
        if state is not None:
            record["STATE"] = state
        record["WHENMODIFIED"] = format_value(when.astimezone(UTC).replace(tzinfo=None))


def latest_documents(emulator: SpsEmulator) -> list[tuple[tuple, object]]:
    """Each document we sent to SPS once, keyed (doc type, partner, number), at its latest file.
    A later revision goes under its own name (``<name>-<revision>``, tasks/sps.revision_path)
    beside the first, so the first is the shortest path of a document and the others are
    numbered after it."""
    files: dict[tuple, list[tuple[str, object]]] = {}
    for key, path, doc in _sent_files(emulator):
        files.setdefault(key, []).append((path, doc))
    out = []
    for key, found in files.items():
        first = min((p for p, _ in found), key=len)
        out.append((key, max(found, key=lambda item: _revision_of(item[0], first))[1]))
    return out


def latest_sent(emulator: SpsEmulator) -> list[tuple[tuple, bool]]:
    """:func:`latest_documents` with whether each latest file is a cancellation (RSX purpose 01)."""
    out = []
    for key, doc in latest_documents(emulator):
        header = getattr(doc, "header", None)
        purpose = None
        for name in ("invoice_header", "shipment_header", "order_header"):
            purpose = getattr(getattr(header, name, None), "tset_purpose_code", None) or purpose
        out.append((key, purpose == "01"))
    return out


def _sent_files(emulator: SpsEmulator) -> list[tuple[tuple, str, object]]:
    found = []
    for path, content in emulator.inbox().items():
        try:
            docs = rsx.parse(content, filename=path.rsplit("/", 1)[-1])
        except BadDocument:
            found.append((("unreadable", path), path, None))
            continue
        found += [((doc_type, *natural_key(doc_type, doc)), path, doc) for doc_type, doc in docs]
    return found


def _revision_of(path: str, first: str) -> int:
    stem = first.rpartition(".")[0] or first
    if path == first or not path.startswith(f"{stem}-"):
        return 1
    number = path[len(stem) + 1:].partition(".")[0].partition("-")[0]
    return int(number) if number.isdigit() else 1

