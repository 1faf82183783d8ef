"""SPS Commerce authentication: OAuth 2.0 client credentials, as an ``httpx.Auth``.

The token is fetched through the very client that sends the API call (the flow yields the
token request), so the token endpoint shares the client's transport, timeouts and TLS
settings, and an in-process emulator serves both. One token serves every thread; one thread
at a time refreshes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from .._http import excerpt, parse_retry_after, register_secret
from ..errors import AuthError, RateLimited, TransientError

# Refresh this long before the server's expiry so a token never dies mid-request; halved for
# very short lifetimes so a 60-second token is still used at all.
EXPIRY_MARGIN = 60.0
# When the token endpoint omits expires_in: assume a short life rather than a long one.
DEFAULT_TTL = 300.0
# OAuth error codes that mean the credentials or the app registration are wrong.
_CREDENTIAL_ERRORS = {"invalid_client", "unauthorized_client", "access_denied", "invalid_grant", "invalid_scope"}


class SpsConfig(BaseModel):
    """Where and as whom to reach SPS. ``client_secret`` never appears in a repr or a dump."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)  # never echo the secret

    client_id: str
    client_secret: SecretStr
    base_url: str = "https://api.spscommerce.com"
    token_url: str = "https://auth.spscommerce.com/oauth/token"
    # SPS is retiring "api://api.spscommerce.com/" in favour of this audience (2026-07-01).
    audience: str = "https://spscommerce.com"
    verify: bool = True
    timeout: float = 60.0

    def model_post_init(self, __context: object) -> None:
        register_secret(self.client_secret.get_secret_value())


class SpsTokenAuth(httpx.Auth):
    """Bearer auth with a cached client-credentials token, refreshed early and on a 401.

    A 401 from the API triggers one refresh and one resend; a second 401 is returned to the
    caller, whose classifier raises ``AuthError``. Token endpoint failures are typed here:
    rejected credentials -> ``AuthError``; 429 -> ``RateLimited``; 5xx -> ``TransientError``.
    """

    def __init__(self, config: SpsConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.refreshes = 0  # how many tokens were fetched; tests and metrics read it

    def __repr__(self) -> str:
        return f"SpsTokenAuth(client_id={self.config.client_id!r}, token_url={self.config.token_url!r})"

    def invalidate(self) -> None:
        """Forget the cached token; the next request fetches a new one."""
        with self._lock:
            self._token = None

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Authorize ``request``; on a 401, refresh the token once and resend."""
        token = yield from self._current_token(stale=None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        token = yield from self._current_token(stale=token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    async def async_auth_flow(self, request: httpx.Request):  # pragma: no cover - guard only
        raise RuntimeError("SpsTokenAuth is for httpx.Client; its lock is a threading lock")
        yield request  # makes this an async generator, as httpx expects

    def _current_token(self, stale: str | None) -> Generator[httpx.Request, httpx.Response, str]:
        # The lock is held across the yield on purpose: other threads wait for this refresh
        # and then reuse its token instead of each fetching one. httpx closes the flow on any
        # error, which releases the lock.
        with self._lock:
            if self._token and self._token != stale and self._clock() < self._expires_at:
                return self._token
            response = yield self._token_request()
            response.read()
            token, ttl = self._read_token(response)
            margin = min(EXPIRY_MARGIN, ttl / 2)
            self._token, self._expires_at = token, self._clock() + ttl - margin
            self.refreshes += 1
            return token

    def _token_request(self) -> httpx.Request:
        cfg = self.config
        form = {
            "grant_type": "client_credentials",
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret.get_secret_value(),
            "audience": cfg.audience,
        }
        return httpx.Request("POST", cfg.token_url, data=form, headers={"Accept": "application/json"})

    def _read_token(self, response: httpx.Response) -> tuple[str, float]:
        if response.status_code >= 400:
            raise self._token_error(response)
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = body.get("expires_in")
            ttl = DEFAULT_TTL if expires_in is None else float(expires_in)
        except (ValueError, KeyError, TypeError):
            raise TransientError(
                "SPS token endpoint answered without a usable access_token",
                system="sps", operation="token", status=response.status_code, body_excerpt=excerpt(response.content),
            ) from None
        if not isinstance(token, str) or not token:
            raise TransientError("SPS token endpoint returned an empty access_token", system="sps", operation="token")
        return token, max(ttl, 1.0)

    def _token_error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        context = dict(
            system="sps", operation="token", status=status,
            request_id=response.headers.get("x-request-id"), body_excerpt=excerpt(response.content),
        )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return RateLimited("SPS token endpoint is rate limiting us", retry_after=retry_after, **context)
        if status >= 500 or status == 408:
            return TransientError(f"SPS token endpoint failed with HTTP {status}", **context)
        code, description = _oauth_error(response)
        hint = " (check client_id and client_secret)" if code in _CREDENTIAL_ERRORS or status == 401 else ""
        detail = f": {description}" if description else ""
        return AuthError(f"SPS refused the client credentials, {code or 'HTTP ' + str(status)}{detail}{hint}",
                         code=code, **context)


def _oauth_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """(error, error_description) of an OAuth error body, or Nones when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("error")
    description = body.get("error_description") or body.get("detail")
    return (str(code) if code else None), (excerpt(str(description), 160) if description else None)
