"""Where and as whom to reach one Adobe Commerce instance, and which auth mode that implies.

Two deployment models (reference §A.1) with different URLs and different auth:

    PaaS  (on-prem, Commerce on Cloud, Open Source)  https://<host>/rest[/<store>]/V1/<endpoint>
          integration: OAuth 1.0a (§A.2.2) or its access token as a Bearer where enabled (§A.2.3);
          admin user: POST /V1/integration/admin/token, 4 h token (§A.2.4)
    SaaS  (Adobe Commerce as a Cloud Service, ACCS)   https://<server>.api.commerce.adobe.com/<tenant>/V1/...
          IMS OAuth server-to-server, client credentials, 24 h token (§A.2.5)

The model is detected from the host; ``deployment`` overrides it (an emulator on localhost can
play either). The auth mode defaults to the strongest one the configured secrets allow.
"""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from .._http import register_secret

Deployment = Literal["paas", "saas"]
AuthMode = Literal["oauth1", "bearer", "admin", "ims"]

SAAS_HOST_SUFFIX = ".api.commerce.adobe.com"
IMS_TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
# commerce.accs is mandatory; the rest is Adobe's documented sample scope list (§A.2.5).
IMS_SCOPES = ("openid", "AdobeID", "email", "profile", "additional_info.roles",
              "additional_info.projectedProductContext", "commerce.accs")
_SECRET_FIELDS = ("consumer_secret", "access_token", "access_token_secret", "password", "ims_client_secret")


def detect_deployment(url: str) -> Deployment:
    """``"saas"`` for an ACCS host (``*.api.commerce.adobe.com``), else ``"paas"``."""
    host = httpx.URL(url).host.lower()
    return "saas" if host.endswith(SAAS_HOST_SUFFIX) else "paas"


class AdobeConfig(BaseModel):
    """One Commerce instance. Secrets are ``SecretStr``: never in a repr, a dump or an error."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    base_url: str
    store_code: str | None = None  # PaaS only: "default", "all", a store view code; None = /rest/V1
    deployment: Literal["auto", "paas", "saas"] = "auto"
    auth_mode: AuthMode | None = None
    # PaaS integration (Admin > System > Extensions > Integrations > Activate)
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    signature_method: Literal["HMAC-SHA256", "HMAC-SHA1"] = "HMAC-SHA256"
    # PaaS admin user (breaks when 2FA is on, which is the 2.4 default: prefer an integration)
    username: str | None = None
    password: SecretStr | None = None
    admin_token_ttl_hours: float = 4.0  # Stores > Configuration > Services > OAuth > Admin Token Lifetime
    # SaaS (ACCS): Adobe Developer Console OAuth server-to-server credential
    ims_client_id: str | None = None
    ims_client_secret: SecretStr | None = None
    ims_org_id: str | None = None
    ims_token_url: str = IMS_TOKEN_URL
    ims_scopes: tuple[str, ...] = IMS_SCOPES
    verify: bool = True
    timeout: float = 60.0

    @model_validator(mode="after")
    def _complete(self) -> AdobeConfig:
        missing = [f for f in _REQUIRED[self.mode] if getattr(self, f) in (None, "")]
        if missing:
            raise ValueError(f"Adobe auth mode {self.mode!r} needs {', '.join(missing)}")
        if self.mode == "ims" and "commerce.accs" not in self.ims_scopes:
            raise ValueError("IMS scopes must include commerce.accs")
        if self.kind == "saas" and self.mode != "ims":
            raise ValueError("Adobe Commerce as a Cloud Service accepts only IMS credentials "
                             "(no integration or admin tokens)")
        return self

    def model_post_init(self, __context: object) -> None:
        for name in _SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None:
                register_secret(value.get_secret_value())

    @classmethod
    def from_credentials(cls, block: object, **overrides: object) -> AdobeConfig:
        """A config from an ``AdobeCredentials`` block (or anything with the same attributes)."""
        values = {name: getattr(block, name) for name in cls.model_fields if getattr(block, name, None) is not None}
        if getattr(block, "verify_tls", None) is not None:
            values["verify"] = block.verify_tls  # type: ignore[attr-defined]
        return cls(**{**values, **overrides})

    @property
    def kind(self) -> Deployment:
        """The deployment model: the explicit one, else detected from ``base_url``."""
        return detect_deployment(self.base_url) if self.deployment == "auto" else self.deployment

    @property
    def mode(self) -> AuthMode:
        """The auth mode: the explicit one, else IMS on SaaS, else OAuth 1.0a when the four
        integration values are there, else the admin user, else the bearer integration token."""
        if self.auth_mode:
            return self.auth_mode
        if self.kind == "saas":
            return "ims"
        if self.consumer_key and self.consumer_secret and self.access_token and self.access_token_secret:
            return "oauth1"
        if self.username and self.password:
            return "admin"
        return "bearer" if self.access_token else "oauth1"

    @property
    def api_root(self) -> str:
        """The URL that ``V1/<endpoint>`` is appended to, ending in ``/``."""
        root = self.base_url.rstrip("/")
        if self.kind == "saas":
            return root + "/"
        path = httpx.URL(root).path
        store = f"{self.store_code}/" if self.store_code else ""
        if path.endswith("/rest"):
            return f"{root}/{store}"
        if "/rest/" in path:  # the URL already names a store: /rest/<store>
            return root + "/"
        return f"{root}/rest/{store}"

_REQUIRED: dict[str, tuple[str, ...]] = {
    "oauth1": ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    "bearer": ("access_token",),
    "admin": ("username", "password"),
    "ims": ("ims_client_id", "ims_client_secret", "ims_org_id"),
}
