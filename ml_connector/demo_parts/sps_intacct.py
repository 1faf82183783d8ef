"""Demo part: SPS Commerce <-> Sage Intacct, both directions."""

from __future__ import annotations

from collections import Counter

from ..connectors.errors import BadDocument
from ..connectors.sps import rsx
from ..connectors.sps.models import natural_key
from ..credentials import save_block
from ..demo_world import DemoWorld, RunSpec, recon
from ..sandbox.intacct import IntacctEmulator
from ..sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents
from ..sandbox.sps import SpsEmulator

BAD_FRACTION = 0.03  # the share of hostile or broken inbound files the demo mixes in


def intacct(world: DemoWorld) -> IntacctEmulator:
    return world.emulator("intacct", lambda: IntacctEmulator(faults=world.fault_plan(0), session_ttl=world.short_ttl))


def sps(world: DemoWorld) -> SpsEmulator:
    return world.emulator("sps", lambda: SpsEmulator(faults=world.fault_plan(1), token_ttl=world.short_ttl))


class SpsIntacctPart:
    """Generated RSX documents (a few hostile ones among them) in, AR invoices out."""

    def __init__(self) -> None:
        self.seeded = Seeded()

    def seed(self, world: DemoWorld) -> None:
        seed_intacct_master(intacct(world), world.mapping)
        seed_ar_invoices(intacct(world), world.mapping, max(world.documents // 4, 1), world.seed, self.seeded)
        seed_sps_documents(sps(world), world.mapping, world.documents, world.seed, BAD_FRACTION, self.seeded)

    def save_blocks(self, world: DemoWorld) -> None:
        save_block(world.tenant, "intacct", intacct(world).credentials())
        save_block(world.tenant, "sps", sps(world).credentials())

    def runs(self, world: DemoWorld) -> list[RunSpec]:
        from ..flows.intacct_to_sps import intacct_to_sps
        from ..flows.sps_to_intacct import sps_to_intacct

        return [
            RunSpec("sps-intacct", sps_to_intacct, lambda: not sps(world).files("out/")),
            RunSpec("intacct-sps", intacct_to_sps),
        ]

    def reconcile(self, world: DemoWorld, integration: str) -> dict:
        if integration == "sps-intacct":
            counts = Counter((b["VENDORID"], b["RECORDID"]) for b in intacct(world).bills())
            return recon(self.seeded.expected_bills, counts)
        counts: Counter = Counter()
        for path, content in sps(world).inbox().items():
            try:
                docs = rsx.parse(content, filename=path.rsplit("/", 1)[-1])
            except BadDocument:
                counts[("unreadable", path)] += 1
                continue
            for doc_type, doc in docs:
                counts[(doc_type, *natural_key(doc_type, doc))] += 1
        expected = {("invoice", p, n) for p, n in self.seeded.expected_invoices}
        expected |= {("orderack", p, n) for p, n in self.seeded.orders}
        return recon(expected, counts)
