"""TLS verification is on for every connector unless configured off for one system, and
turning it off is logged."""

from __future__ import annotations

import logging
import ssl

import pytest

from ml_connector.connectors._http import build_client
from ml_connector.connectors.adobe.config import AdobeConfig
from ml_connector.connectors.intacct.auth import IntacctConfig
from ml_connector.connectors.qbo.auth import QboConfig
from ml_connector.connectors.sps.auth import SpsConfig
from ml_connector.connectors.sterling.auth import SterlingConfig
from ml_connector.credentials import BLOCKS

CONFIGS = [
    (IntacctConfig, dict(sender_id="s", sender_password="p", company_id="c", user_id="u", user_password="p")),
    (SpsConfig, dict(client_id="c", client_secret="s")),
    (SterlingConfig, dict(base_url="https://b2bi.example.com:5075", username="u", password="p")),
    (QboConfig, dict(realm_id="1", client_id="c", client_secret="s")),
    (AdobeConfig, dict(base_url="https://shop.example.com", access_token="t")),
]


@pytest.mark.parametrize(("cls", "fields"), CONFIGS, ids=lambda v: getattr(v, "__name__", ""))
def test_every_connector_verifies_tls_by_default(cls, fields):
    assert cls(**fields).verify is True


@pytest.mark.parametrize("system", sorted(BLOCKS))
def test_every_credentials_block_verifies_tls_by_default(system):
    assert BLOCKS[system].model_fields["verify_tls"].default is True


def test_turning_verification_off_is_logged(caplog):
    caplog.set_level(logging.WARNING, logger="ml_connector.http")
    with build_client("https://erp.example.com", verify=False) as client:
        context = client._transport._pool._ssl_context  # httpx keeps the TLS context on its pool
        assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert any("TLS verification is OFF for https://erp.example.com" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with build_client("https://erp.example.com"):
        pass
    assert not caplog.records
