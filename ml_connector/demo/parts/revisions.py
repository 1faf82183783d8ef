"""Revision traffic for the demo's SPS feeds: orders changed and cancelled after they posted, and
changes and cancellations that arrive before their original (out of order).

The orders are a batch of their own (numbered from :data:`FIRST_NUMBER`, apart from the main
feed's), dropped into SPS ``out/`` in two waves: the first before the first run, the second once
a run has completed with nothing pending, so "after posting" really is after posting:

* **changed**: the original, then a change (purpose 04) raising its first line's quantity;
* **cancelled**: the original, then a cancellation (01);
* **change first**: the change, then its original (an original after its change is superseded);
* **cancel first**: the cancellation (nothing to apply), then its original (superseded).

At the end the target holds the changed and change-first orders at the change's content, nothing
of the cancel-first ones, and the cancelled ones as the target cancels (an AP bill deleted, a
QuickBooks purchase order closed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from ...sandbox.generator import GeneratedDoc, generate, revise

FIRST_NUMBER = 700_000
GROUPS = ("changed", "cancelled", "change_first", "cancel_first")
CHANGE = "04"
CANCEL = "01"
QUANTITY_UP = Decimal(3)


@dataclass
class RevisionTraffic:
    """The two waves of files and which orders fall in which group ((partner, PO number) each)."""

    waves: list[list[GeneratedDoc]]
    groups: dict[str, set[tuple[str, str]]]
    dropped: int = 0
    _calls: int = field(default=0, repr=False)

    def in_target(self) -> set[tuple[str, str]]:
        """The orders the target must hold live after the waves dropped so far."""
        if not self.dropped:
            return set()
        live = self.groups["changed"] | self.groups["change_first"]
        return live if self.done() else live | self.groups["cancelled"]

    def posted(self) -> set[tuple[str, str]]:
        """The orders that were posted at some point (a cancelled one posted before its cancellation)."""
        if not self.dropped:
            return set()
        return self.groups["changed"] | self.groups["change_first"] | self.groups["cancelled"]

    def revised(self) -> set[tuple[str, str]]:
        """The orders whose latest content is a change, after the waves dropped so far."""
        return self.groups["changed"] | self.groups["change_first"] if self.done() else \
            (self.groups["change_first"] if self.dropped else set())

    def cancelled(self) -> set[tuple[str, str]]:
        """The orders whose latest content is a cancellation, after the waves dropped so far."""
        return self.groups["cancelled"] | self.groups["cancel_first"] if self.done() else \
            (self.groups["cancel_first"] if self.dropped else set())

    def done(self) -> bool:
        return self.dropped == len(self.waves)

    def drop_next(self, put: Callable[[str, bytes], None]) -> None:
        if not self.done():
            for doc in self.waves[self.dropped]:
                put(doc.filename, doc.content)
            self.dropped += 1

    def runs(self, flow, put: Callable[[str, bytes], None], settled: Callable[[], bool]):
        """``flow`` run as the demo runs it, the next wave dropped before each run after the first
        once the runs before it left nothing pending (``settled``)."""
        def run(tenant: str, return_state: bool = True):
            if self._calls and settled():
                self.drop_next(put)
            self._calls += 1
            return flow(tenant=tenant, return_state=return_state)

        return run


def order_revisions(count: int, seed: int, catalogue=None) -> RevisionTraffic:
    """``count`` orders (at least one per group) with their revisions, in two waves; the first is
    meant to be dropped when the sandbox is seeded (:meth:`RevisionTraffic.drop_next`)."""
    per_group = max(count // len(GROUPS), 1)
    wanted = per_group * len(GROUPS)
    orders: list[GeneratedDoc] = []
    made = wanted * 3
    while len(orders) < wanted:  # the generator mixes document types: draw until enough orders
        orders = [d for d in generate(made, seed=seed, catalogue=catalogue, first_number=FIRST_NUMBER)
                  if d.doc_type == "order" and d.expect == "post"]
        made *= 2
    groups: dict[str, list[GeneratedDoc]] = {g: orders[i * per_group:(i + 1) * per_group] for i, g in enumerate(GROUPS)}
    first: list[GeneratedDoc] = []
    second: list[GeneratedDoc] = []
    for doc in groups["changed"]:
        first.append(doc)
        second.append(revise(doc, CHANGE, QUANTITY_UP))
    for doc in groups["cancelled"]:
        first.append(doc)
        second.append(revise(doc, CANCEL))
    for doc in groups["change_first"]:
        first.append(revise(doc, CHANGE, QUANTITY_UP))
        second.append(doc)
    for doc in groups["cancel_first"]:
        first.append(revise(doc, CANCEL))
        second.append(doc)
    return RevisionTraffic([first, second], {g: {(d.partner_id, d.number) for d in docs} for g, docs in groups.items()})
