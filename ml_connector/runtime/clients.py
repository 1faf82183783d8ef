"""One builder per external system: its connector client, from the tenant's credential block.

Every builder has the same shape, ``build(tenant, block) -> client``: ``tenant`` is the name of
the tenant the client is for, ``block`` its ``<tenant>-<system>`` Prefect block
(:mod:`ml_connector.credentials`). :class:`~ml_connector.runtime.tenant.Tenant` calls them
once per process and system and keeps the client, so a session or token fetched by one task
serves the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..connectors.adobe import AdobeClient, AdobeConfig
from ..connectors.intacct.auth import IntacctConfig
from ..connectors.intacct.client import IntacctClient
from ..connectors.qbo import QboClient, QboConfig
from ..connectors.sps.auth import SpsConfig
from ..connectors.sps.client import SpsClient
from ..connectors.sterling import SterlingClient, SterlingConfig
from .qbo_limits import PrefectLimiter
from .qbo_tokens import BlockTokenStore


def build_intacct(tenant: str, block: Any) -> IntacctClient:
    return IntacctClient(IntacctConfig(
        endpoint_url=block.endpoint_url,
        sender_id=block.sender_id,
        sender_password=block.sender_password.get_secret_value(),
        company_id=block.company_id,
        user_id=block.user_id,
        user_password=block.user_password.get_secret_value(),
        location_id=block.location_id,
        verify=block.verify_tls,
    ))


def build_sps(tenant: str, block: Any) -> SpsClient:
    return SpsClient(SpsConfig(
        base_url=block.base_url,
        token_url=block.token_url,
        client_id=block.client_id,
        client_secret=block.client_secret.get_secret_value(),
        audience=block.audience,
        verify=block.verify_tls,
    ))


def build_qbo(tenant: str, block: Any) -> QboClient:
    """The tokens live in the tenant's block (read and written back there), the request limits
    are the company's (see qbo_tokens.py and qbo_limits.py)."""
    config = QboConfig(realm_id=block.realm_id, client_id=block.client_id, client_secret=block.client_secret,
                       base_url=block.base_url, token_url=block.token_url, verify=block.verify_tls)
    return QboClient(config, BlockTokenStore(tenant, block.realm_id), limiter=PrefectLimiter(block.realm_id))


def build_adobe(tenant: str, block: Any) -> AdobeClient:
    """Procure and order to cash share this client, so one admin or IMS token serves both."""
    return AdobeClient(AdobeConfig.from_credentials(block))


def build_sterling(tenant: str, block: Any) -> SterlingClient:
    return SterlingClient(SterlingConfig(
        base_url=block.base_url, username=block.username, password=block.password,
        verify=block.verify_tls, allow_insecure_http=block.allow_insecure_http))


BUILDERS: dict[str, Callable[[str, Any], Any]] = {
    "intacct": build_intacct, "sps": build_sps, "qbo": build_qbo, "adobe": build_adobe, "sterling": build_sterling,
}


def qbo_client(res) -> QboClient:
    """The QBO client of ``res`` (a :class:`~ml_connector.runtime.tenant.Tenant`), built once
    per process."""
    return res.qbo()


def sterling_client(res) -> SterlingClient:
    """The Sterling B2Bi client of ``res`` (a :class:`~ml_connector.runtime.tenant.Tenant`),
    built once per process."""
    return res.sterling()
