"""A tenant's resources in this process: its mapping, its ledger handle and its clients.

Built once per process and tenant, then reused by every task run: an Intacct session or an
SPS token fetched by one task serves the next, and the ledger keeps one connection pool.
Credentials come from Prefect blocks by tenant name, so no secret is ever a flow parameter;
every client is built the same way, by its system's builder in clients.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..connectors.adobe import AdobeClient
from ..connectors.intacct.client import IntacctClient
from ..connectors.qbo import QboClient
from ..connectors.sps.client import SpsClient
from ..connectors.sterling import SterlingClient
from ..credentials import load_credentials
from ..ledger.store import Ledger
from ..mappings.tenant import TenantMapping, load_tenant, tenant_path
from ..settings import ledger_url
from .clients import BUILDERS
from .ledgers import dispose_all, shared_ledger

_LOCK = threading.Lock()
_TENANTS: dict[tuple[str, str], Tenant] = {}


@dataclass
class Tenant:
    name: str
    mapping: TenantMapping
    ledger: Ledger
    _clients: dict = field(default_factory=dict)
    # One build per system even when several threads of a task ask at once.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def client(self, system: str):
        """The client of ``system``, built from the ``<tenant>-<system>`` block on first use."""
        with self._lock:
            if system not in self._clients:
                self._clients[system] = BUILDERS[system](self.name, load_credentials(self.name, system))
            return self._clients[system]

    def intacct(self) -> IntacctClient:
        return self.client("intacct")

    def sps(self) -> SpsClient:
        return self.client("sps")

    def qbo(self) -> QboClient:
        return self.client("qbo")

    def adobe(self) -> AdobeClient:
        return self.client("adobe")

    def sterling(self) -> SterlingClient:
        return self.client("sterling")

    def commerce(self, part: str):
        """The mapping's ``commerce`` settings, checked to hold ``part`` (``procure`` for the
        payables flows, ``o2c`` for order to cash): a clear error otherwise."""
        commerce = self.mapping.commerce
        if commerce is None or getattr(commerce, part, None) is None:
            raise ValueError(f"tenant {self.name} has no commerce.{part} section in its mapping file")
        return commerce

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def tenant(name: str) -> Tenant:
    """The cached resources of one tenant in this process. Tenants on one ledger URL share its
    engine (one connection pool), each through a ledger handle scoped to it."""
    url = ledger_url()
    with _LOCK:
        key = (name, url)
        if key not in _TENANTS:
            _TENANTS[key] = Tenant(name, load_tenant(tenant_path(name)), shared_ledger(url, name).for_tenant(name))
        return _TENANTS[key]


def reset() -> None:
    """Forget every cached tenant (tests and the demo switch ledgers and credentials)."""
    with _LOCK:
        for t in _TENANTS.values():
            t.close()
        _TENANTS.clear()
        dispose_all()
