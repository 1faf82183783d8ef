"""Per-process resources a task needs: the tenant mapping, the ledger and connector clients.

Built once per process and tenant, then reused by every task run: an Intacct session or an
SPS token fetched by one task serves the next, and the ledger keeps one connection pool.
Credentials come from Prefect blocks by tenant name, so no secret is ever a flow parameter.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..connectors.intacct.auth import IntacctConfig
from ..connectors.intacct.client import IntacctClient
from ..connectors.sps.auth import SpsConfig
from ..connectors.sps.client import SpsClient
from ..credentials import load_credentials
from ..ledger.store import Ledger
from ..mappings.tenant import TenantMapping, load_tenant, tenant_path
from ..settings import ledger_url

_LOCK = threading.Lock()
_TENANTS: dict[tuple[str, str], "Tenant"] = {}
_LEDGERS: dict[str, Ledger] = {}


@dataclass
class Tenant:
    name: str
    mapping: TenantMapping
    ledger: Ledger
    _clients: dict = field(default_factory=dict)

    def intacct(self) -> IntacctClient:
        with _LOCK:
            if "intacct" not in self._clients:
                block = load_credentials(self.name, "intacct")
                config = IntacctConfig(
                    endpoint_url=block.endpoint_url,
                    sender_id=block.sender_id,
                    sender_password=block.sender_password.get_secret_value(),
                    company_id=block.company_id,
                    user_id=block.user_id,
                    user_password=block.user_password.get_secret_value(),
                    location_id=block.location_id,
                    verify=block.verify_tls,
                )
                self._clients["intacct"] = IntacctClient(config)
            return self._clients["intacct"]

    def sps(self) -> SpsClient:
        with _LOCK:
            if "sps" not in self._clients:
                block = load_credentials(self.name, "sps")
                config = SpsConfig(
                    base_url=block.base_url,
                    token_url=block.token_url,
                    client_id=block.client_id,
                    client_secret=block.client_secret.get_secret_value(),
                    audience=block.audience,
                    verify=block.verify_tls,
                )
                self._clients["sps"] = SpsClient(config)
            return self._clients["sps"]

    def qbo(self):
        from .qbo import qbo_client  # QuickBooks Online (tasks/qbo.py keeps its client in _clients)

        return qbo_client(self)

    def adobe(self):
        """The Adobe Commerce client, from the ``<tenant>-adobe`` block (procure and order to cash
        share it, so one admin or IMS token serves both)."""
        from ..connectors.adobe import AdobeClient, AdobeConfig

        with _LOCK:
            if "adobe" not in self._clients:
                self._clients["adobe"] = AdobeClient(AdobeConfig.from_credentials(load_credentials(self.name, "adobe")))
            return self._clients["adobe"]

    def commerce(self, part: str):
        """The mapping's ``commerce`` settings, checked to hold ``part`` (``procure`` for the
        payables flows, ``o2c`` for order to cash): a clear error otherwise."""
        commerce = self.mapping.commerce
        if commerce is None or getattr(commerce, part, None) is None:
            raise ValueError(f"tenant {self.name} has no commerce.{part} section in its mapping file")
        return commerce

    def sterling(self):
        """The Sterling B2Bi client (built in tasks/sterling.py, cached here like the others)."""
        from .sterling import sterling

        return sterling(self)

    def close(self) -> None:
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
            if url not in _LEDGERS:
                _LEDGERS[url] = Ledger(url, tenant=name)
            _TENANTS[key] = Tenant(name, load_tenant(tenant_path(name)), _LEDGERS[url].for_tenant(name))
        return _TENANTS[key]


def reset() -> None:
    """Forget every cached tenant (tests and the demo switch ledgers and credentials)."""
    with _LOCK:
        for t in _TENANTS.values():
            t.close()
        for ledger in _LEDGERS.values():
            ledger.dispose()
        _TENANTS.clear()
        _LEDGERS.clear()
