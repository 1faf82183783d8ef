"""Sterling B2B Integrator authentication: HTTP Basic with a dedicated, non-admin API user.

The B2B REST APIs accept only Basic auth (reference §C.2); the account needs the *API User*
permission. We refuse two setups that would put a customer at risk:
- a plain ``http://`` base URL, which sends the password in clear on every request. It is
  allowed only with ``allow_insecure_http=True`` (the local sandbox), and logged;
- an administrator account: an integration holding admin credentials can change every
  partner, user and certificate in the customer's B2Bi. :func:`admin_reason` decides from the
  account's ``useraccounts`` record; the client checks once, before its first call.
"""

from __future__ import annotations

import base64
import logging

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from .._http import register_secret
from .models import UserAccount

log = logging.getLogger("ml_connector.sterling")

API_PATH = "/B2BAPIs/svc"
# Groups whose members administer B2Bi. "Admin" is the built-in group of the shipped "admin"
# user; the others are common local names. Matched case-insensitively. [U]: check a customer's
# own group names and extend ``admin_groups`` in the config if they differ.
DEFAULT_ADMIN_GROUPS = ("Admin", "Administrators", "SuperUser", "sysadmin")
# The account every installation ships with.
BUILTIN_ADMIN_USERS = ("admin",)


class SterlingConfig(BaseModel):
    """Where and as whom to reach a customer's B2Bi. ``password`` never appears in a repr or dump.

    ``base_url`` is the customer's own host and port (the Liberty B2B API listener, base port
    + 75 for HTTPS), e.g. ``https://b2bi.example.com:5075``; ``/B2BAPIs/svc`` is appended.
    """

    # hide_input_in_errors: a validation error would otherwise print the whole input dict,
    # password included.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    base_url: str
    username: str
    password: SecretStr
    verify: bool = True
    timeout: float = 60.0
    allow_insecure_http: bool = False
    admin_groups: tuple[str, ...] = DEFAULT_ADMIN_GROUPS

    @field_validator("base_url")
    @classmethod
    def _clean_base_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if url.endswith(API_PATH):  # accept the API root as well as the bare host
            url = url[: -len(API_PATH)]
        scheme = httpx.URL(url).scheme
        if scheme not in ("http", "https") or not httpx.URL(url).host:
            raise ValueError(f"base_url must be an http(s) URL with a host, got {value!r}")
        return url

    @model_validator(mode="after")
    def _refuse_plain_http(self) -> SterlingConfig:
        if self.base_url.startswith("http://") and not self.allow_insecure_http:
            raise ValueError(
                "base_url uses plain http: Basic auth would send the Sterling password in clear. "
                "Use the HTTPS listener, or set allow_insecure_http=True for a local sandbox only."
            )
        return self

    def model_post_init(self, __context: object) -> None:
        password = self.password.get_secret_value()
        register_secret(password)
        # The header value too: an Authorization header copied into a log stays masked.
        register_secret(basic_token(self.username, password))

    @property
    def api_url(self) -> str:
        """The API root, ``<base_url>/B2BAPIs/svc``."""
        return self.base_url + API_PATH

    @property
    def insecure(self) -> bool:
        return self.base_url.startswith("http://")


def basic_token(username: str, password: str) -> str:
    """The credentials part of a Basic ``Authorization`` header."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def basic_auth(config: SterlingConfig) -> httpx.BasicAuth:
    """The httpx auth for ``config``; warns when it will travel over plain http."""
    if config.insecure:
        log.warning("Sterling at %s over plain http (allow_insecure_http=True): sandbox use only", config.base_url)
    return httpx.BasicAuth(config.username, config.password.get_secret_value())


def admin_reason(account: UserAccount, admin_groups: tuple[str, ...] = DEFAULT_ADMIN_GROUPS) -> str | None:
    """Why ``account`` counts as an administrator, or None when it does not."""
    if account.user_id.lower() in BUILTIN_ADMIN_USERS:
        return f"it is the built-in '{account.user_id}' account"
    wanted = {g.lower() for g in admin_groups}
    hits = sorted(g for g in account.groups if g and g.lower() in wanted)
    if hits:
        return f"it belongs to the administrators group {', '.join(hits)}"
    return None
