"""QuickBooks Online's limits per company (realm), enforced with Prefect global concurrency limits.

QBO allows, per realm (reference §B.10): 500 requests a minute (batch calls included), 10
concurrent requests, 40 batch calls a minute. Every worker and every flow of a tenant shares
those budgets, so they live on the Prefect server, one set per realm:

=============================  =========  =================================================
name                           limit      use
=============================  =========  =================================================
``qbo-<realm>-requests``       500        rate limit (slots decay at 500/60 a second): one
                                          slot per HTTP attempt
``qbo-<realm>-batch``          40         rate limit (decay 40/60 a second): one slot per
                                          batch call, on top of the request slot
``qbo-<realm>-concurrent``     10         concurrency: a slot held for the attempt's duration
=============================  =========  =================================================

The names carry the realm and not the tenant, on purpose: the budget is the company's, so two
tenants connected to the same company must draw on one budget (per-tenant limits would let them
send QBO twice its limit between them, and both would meet its 429s); tenants on different
companies already have limits of their own.

``ml-connector setup`` creates them (:func:`ensure_limits`). They are taken around every HTTP
attempt (the connector's ``limiter`` hook), so retries count too, as QBO counts them.

Strictness, chosen on purpose: a run does not fail when the limits are missing (a fresh
install, tests, a benchmark without ``setup``); it logs once per process and goes on
unthrottled, and the emulator's and QBO's own 429 handling still applies. Whether the limits
exist is checked once per realm and cached for a minute, so a missing limit costs no Prefect
API call per request and floods no log. Outside a Prefect run (``ml-connector check``,
``preview``) nothing is taken: those are single requests.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger("ml_connector.runtime.qbo_limits")

REQUESTS_PER_MINUTE, CONCURRENT, BATCHES_PER_MINUTE = 500, 10, 40
CHECK_EVERY = 60.0  # seconds between checks that the limits exist
LEASE_SECONDS = 180.0  # a crashed holder frees its concurrency slot after this (QBO times out at 120 s)


@dataclass(frozen=True)
class RealmLimits:
    """The three limit names of one company."""

    requests: str
    concurrent: str
    batch: str

    @classmethod
    def of(cls, realm_id: str) -> RealmLimits:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", realm_id)
        return cls(f"qbo-{safe}-requests", f"qbo-{safe}-concurrent", f"qbo-{safe}-batch")

    def specs(self) -> list[tuple[str, int, float | None]]:
        """(name, limit, slot decay per second or None for a concurrency limit)."""
        return [(self.requests, REQUESTS_PER_MINUTE, REQUESTS_PER_MINUTE / 60.0),
                (self.concurrent, CONCURRENT, None),
                (self.batch, BATCHES_PER_MINUTE, BATCHES_PER_MINUTE / 60.0)]


def ensure_limits(realm_id: str) -> list[str]:
    """Create (or reset to QBO's values) the realm's three global limits; returns their names."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    names = []
    with get_client(sync_client=True) as client:
        for name, limit, decay in RealmLimits.of(realm_id).specs():
            try:
                client.read_global_concurrency_limit_by_name(name)
                client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(
                    limit=limit, active=True, slot_decay_per_second=decay or 0.0))
            except ObjectNotFound:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(
                    name=name, limit=limit, active=True, slot_decay_per_second=decay or 0.0))
            names.append(name)
    return names


class PrefectLimiter:
    """The connector's ``limiter`` for one realm: Prefect slots around each HTTP attempt."""

    def __init__(self, realm_id: str) -> None:
        self.names = RealmLimits.of(realm_id)
        self._checked_at = float("-inf")
        self._present = self._warned = False
        self._lock = threading.Lock()
        self.taken = 0  # attempts that took slots (observability, tests)

    def __repr__(self) -> str:
        return f"PrefectLimiter({self.names.requests!r}, ...)"

    @contextlib.contextmanager
    def __call__(self, *, batch: bool) -> Iterator[None]:
        if not _in_prefect_run() or not self._limits_exist():
            yield
            return
        from prefect.concurrency.sync import concurrency, rate_limit

        rate_limit([self.names.requests, self.names.batch] if batch else [self.names.requests], strict=False)
        with concurrency(self.names.concurrent, occupy=1, lease_duration=LEASE_SECONDS, strict=False):
            self.taken += 1
            yield

    def _limits_exist(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at < CHECK_EVERY:
                return self._present
            self._checked_at = time.monotonic()
            present = _all_exist([n for n, _, _ in self.names.specs()])
            if not present and not self._warned:
                self._warned = True
                log.info("QBO limits %s are not configured on the Prefect server (ml-connector setup creates "
                         "them): requests for this company are not throttled client-side", self.names.requests)
            self._present = present
            return present


def _all_exist(names: list[str]) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            for name in names:
                if not client.read_global_concurrency_limit_by_name(name).active:
                    return False
    except ObjectNotFound:
        return False
    except Exception as exc:  # the Prefect API is unreachable: do not stop QBO traffic over it
        log.warning("could not read the QBO limits from Prefect (%s); not throttling client-side for a minute",
                    " ".join(str(exc).split())[:200])
        return False
    return True


def _in_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return TaskRunContext.get() is not None or FlowRunContext.get() is not None


__all__ = ["PrefectLimiter", "RealmLimits", "ensure_limits"]
