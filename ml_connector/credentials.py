"""Credentials as Prefect blocks. The Prefect server stores block data encrypted, and
``SecretStr`` keeps the values out of the UI, reprs and logs.

One block per (tenant, system), named ``<tenant>-<system>``; ``ml-connector setup`` creates
them from a file or the environment.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from .connectors._http import register_secret


class IntacctCredentials(Block):
    """Sage Intacct XML gateway: a Web Services sender plus a company user."""

    _block_type_name = "ML Connector Intacct"
    _block_type_slug = "ml-connector-intacct"

    endpoint_url: str = Field(default="https://api.intacct.com/ia/xml/xmlgw.phtml", title="Gateway URL")
    sender_id: str = Field(title="Web Services sender ID")
    sender_password: SecretStr = Field(title="Sender password")
    company_id: str = Field(title="Company ID")
    user_id: str = Field(title="Web Services user ID")
    user_password: SecretStr = Field(title="User password")
    location_id: str | None = Field(default=None, title="Entity (multi-entity companies)")
    verify_tls: bool = Field(default=True, title="Verify TLS certificates")

    def secrets(self) -> list[str]:
        return [self.sender_password.get_secret_value(), self.user_password.get_secret_value()]


class SpsCredentials(Block):
    """SPS Commerce Transaction API: an OAuth 2.0 machine-to-machine application."""

    _block_type_name = "ML Connector SPS Commerce"
    _block_type_slug = "ml-connector-sps"

    base_url: str = Field(default="https://api.spscommerce.com", title="API base URL")
    token_url: str = Field(default="https://auth.spscommerce.com/oauth/token", title="Token URL")
    client_id: str = Field(title="Client ID")
    client_secret: SecretStr = Field(title="Client secret")
    audience: str = Field(default="https://spscommerce.com", title="Audience")
    verify_tls: bool = Field(default=True, title="Verify TLS certificates")

    def secrets(self) -> list[str]:
        return [self.client_secret.get_secret_value()]


class SterlingCredentials(Block):
    """IBM Sterling B2B Integrator B2B REST APIs: a non-admin API user on the customer's host."""

    _block_type_name = "ML Connector Sterling B2Bi"
    _block_type_slug = "ml-connector-sterling"

    base_url: str = Field(title="B2B API base URL", description="e.g. https://b2bi.example.com:5075")
    username: str = Field(title="API user (not an admin)")
    password: SecretStr = Field(title="Password")
    verify_tls: bool = Field(default=True, title="Verify TLS certificates")
    allow_insecure_http: bool = Field(default=False, title="Allow plain http (local sandbox only)")

    def secrets(self) -> list[str]:
        return [self.password.get_secret_value()]


class QboCredentials(Block):
    """QuickBooks Online: one company (realm) of an OAuth 2.0 app. The refresh token rotates:
    the connector writes the newest one back here (``runtime/qbo_tokens.BlockTokenStore``), so
    this block always holds the only refresh token that still works."""

    _block_type_name = "ML Connector QuickBooks Online"
    _block_type_slug = "ml-connector-qbo"

    realm_id: str = Field(title="Company ID (realmId)")
    client_id: str = Field(title="Client ID")
    client_secret: SecretStr = Field(title="Client secret")
    refresh_token: SecretStr = Field(title="Refresh token (rotated and saved back automatically)")
    base_url: str = Field(default="https://quickbooks.api.intuit.com", title="API base URL")
    token_url: str = Field(default="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer", title="Token URL")
    verifier_token: SecretStr | None = Field(default=None, title="Webhooks verifier token")
    verify_tls: bool = Field(default=True, title="Verify TLS certificates")
    # Written by the connector, shared by every worker so they do not each refresh.
    access_token: SecretStr | None = Field(default=None, title="Current access token (managed)")
    access_expires_at: float = Field(default=0.0, title="Access token expiry, epoch seconds (managed)")
    refreshed_at: float | None = Field(default=None, title="Last refresh, epoch seconds (managed)")

    def secrets(self) -> list[str]:
        values = [self.client_secret, self.refresh_token, self.verifier_token, self.access_token]
        return [v.get_secret_value() for v in values if v is not None]


class AdobeCredentials(Block):
    """Adobe Commerce (Magento 2). PaaS: an integration (OAuth 1.0a: consumer key/secret and
    access token/secret), its access token alone as a Bearer where the store allows it, or an
    admin user; SaaS (ACCS, ``*.api.commerce.adobe.com``): an IMS OAuth server-to-server
    credential. The mode follows from the URL and the values filled in (``auth_mode`` forces one)."""

    _block_type_name = "ML Connector Adobe Commerce"
    _block_type_slug = "ml-connector-adobe"

    base_url: str = Field(title="Store URL", description="https://shop.example.com, or https://<server>.api.commerce.adobe.com/<tenant-id>")
    store_code: str | None = Field(default=None, title="Store code (PaaS: default, all, a store view)")
    auth_mode: str | None = Field(default=None, title="Auth mode (oauth1, bearer, admin, ims; empty = automatic)")
    consumer_key: str | None = Field(default=None, title="Integration consumer key")
    consumer_secret: SecretStr | None = Field(default=None, title="Integration consumer secret")
    access_token: SecretStr | None = Field(default=None, title="Integration access token")
    access_token_secret: SecretStr | None = Field(default=None, title="Integration access token secret")
    username: str | None = Field(default=None, title="Admin user (PaaS, without 2FA)")
    password: SecretStr | None = Field(default=None, title="Admin password")
    ims_client_id: str | None = Field(default=None, title="IMS client ID (ACCS)")
    ims_client_secret: SecretStr | None = Field(default=None, title="IMS client secret (ACCS)")
    ims_org_id: str | None = Field(default=None, title="IMS organization ID (ACCS)")
    webhook_public_key: str | None = Field(default=None, title="Webhook signature public key (PEM, from the Admin)")
    webhook_hmac_secret: SecretStr | None = Field(default=None, title="Webhook HMAC secret (only if configured so)")
    verify_tls: bool = Field(default=True, title="Verify TLS certificates")

    def secrets(self) -> list[str]:
        values = [self.consumer_secret, self.access_token, self.access_token_secret, self.password,
                  self.ims_client_secret, self.webhook_hmac_secret]
        return [v.get_secret_value() for v in values if v is not None]


BLOCKS = {"intacct": IntacctCredentials, "sps": SpsCredentials, "sterling": SterlingCredentials,
          "qbo": QboCredentials, "adobe": AdobeCredentials}


def save_block(tenant: str, system: str, values: dict) -> str:
    """Save ``values`` (extra keys ignored, e.g. a sandbox's extra fields) as the tenant's
    block for ``system``; returns the block name."""
    cls = BLOCKS[system]
    name = block_name(tenant, system)
    cls(**{k: v for k, v in values.items() if k in cls.model_fields}).save(name, overwrite=True)
    return name


def block_name(tenant: str, system: str) -> str:
    return f"{tenant}-{system}"


def load_credentials(tenant: str, system: str):
    """Load a tenant's block for one system and register its secrets for redaction."""
    block = BLOCKS[system].load(block_name(tenant, system))
    for secret in block.secrets():
        register_secret(secret)
    return block
