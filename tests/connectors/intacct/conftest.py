"""An Intacct sandbox company and clients wired to it in-process (no network).

Helpers are handed out as fixtures rather than imported, since every conftest module in this
repository is named ``conftest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.intacct.auth import IntacctConfig, SessionCache
from ml_connector.connectors.intacct.client import IntacctClient
from ml_connector.connectors.intacct.models import ApBill, ApBillLine
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.intacct import IntacctEmulator


class ScriptedFaults(FaultPlan):
    """Faults in a fixed order instead of by chance: ``before`` pops from ``script`` (None = no
    fault), ``lose`` lists the write numbers (1-based) whose response is lost."""

    def __init__(self, script=(), lose=()):
        super().__init__()
        self.script, self.lose, self.writes = list(script), set(lose), 0

    def before(self):
        return self.script.pop(0) if self.script else None

    def lose_response(self):
        self.writes += 1
        return self.writes in self.lose


@dataclass
class Recorder(httpx.BaseTransport):
    """Passes requests to the emulator and keeps what went by."""

    inner: httpx.BaseTransport
    requests: list[bytes] = field(default_factory=list)
    responses: list[bytes] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.read())
        response = self.inner.handle_request(request)
        self.responses.append(response.read())
        return response

    def count(self, marker: bytes) -> int:
        return sum(marker in body for body in self.requests)


@dataclass
class Wired:
    emulator: IntacctEmulator
    client: IntacctClient
    recorder: Recorder
    sleeps: list[float]
    sessions: SessionCache


def _make_emulator(**options) -> IntacctEmulator:
    emulator = IntacctEmulator(**options)
    emulator.add_vendor("V100", "Paper Supply Co")
    emulator.add_vendor("V200", "Bolt & Nut")
    emulator.add_customer("C-0001", "Acme Retail")
    for account in ("6000", "6100"):
        emulator.add_gl_account(account)
    emulator.add_dimension("department", "OPS")
    emulator.add_dimension("location", "HQ")
    return emulator


def _wire(emulator: IntacctEmulator, *, sessions: SessionCache | None = None, **config) -> Wired:
    sleeps: list[float] = []
    recorder = Recorder(emulator.transport())
    sessions = sessions or SessionCache()
    settings = {**emulator.credentials(), **config}
    client = IntacctClient(IntacctConfig(**settings), http=httpx.Client(transport=recorder),
                           policy=RetryPolicy(attempts=5, sleep=sleeps.append), sessions=sessions)
    return Wired(emulator, client, recorder, sleeps, sessions)


def _make_bill(record_id: str, vendor_id: str = "V100", account: str = "6000", amount: str = "125.50", **line) -> ApBill:
    return ApBill(vendor_id=vendor_id, record_id=record_id, when_created=date(2024, 5, 1), when_due=date(2024, 5, 31),
                  lines=(ApBillLine(account_no=account, amount=Decimal(amount), **line),))


@pytest.fixture
def emulator() -> IntacctEmulator:
    """A sandbox company with vendors V100/V200, customer C-0001, accounts 6000/6100,
    department OPS and location HQ."""
    return _make_emulator()


@pytest.fixture
def wired(emulator) -> Wired:
    """A client on ``emulator`` with its own session cache and instant retries."""
    return _wire(emulator)


@pytest.fixture
def new_emulator():
    """Build another seeded emulator with options (faults, session_ttl, clock...)."""
    return _make_emulator


@pytest.fixture
def wire():
    """Wire a client to any emulator: ``wire(emulator, sessions=..., **config overrides)``."""
    return _wire


@pytest.fixture
def make_bill():
    """``make_bill(record_id, vendor_id="V100", account="6000", amount="125.50", **line)``."""
    return _make_bill


@pytest.fixture
def scripted_faults():
    return ScriptedFaults
