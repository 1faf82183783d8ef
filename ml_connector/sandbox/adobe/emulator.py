"""Adobe Commerce (Magento 2 REST) emulator: PaaS and SaaS (ACCS) flavours of one store.

Behaves as the reference sheet (§A and its emulator checklist) describes the real service:
- URL flavour picks the auth mode (§A.1): ``/rest[/<store_code>]/V1/...`` is PaaS and takes an
  OAuth 1.0a-signed integration request (verified as Magento verifies it, see ``auth``),
  an admin token (``POST .../V1/integration/admin/token``, a JWT living ``admin_token_ttl``,
  4 h by default; with ``two_factor=True`` only through ``/V1/tfa/provider/google/authenticate``)
  or, when ``bearer_enabled``, the integration access token as a Bearer;
  ``/<tenant_id>/V1/...`` is SaaS and takes only Adobe IMS tokens (``POST /ims/token/v3``,
  client credentials with scope ``commerce.accs``, 86 399 s) with ``x-api-key``;
  an unknown store code is part of the path, so it is 404 "Request does not match any route.";
- every failure answers Magento's body, template unfilled: ``{"message": "... %1 ...",
  "parameters": [...]}``; an unknown filter column is the masked 500 "Internal Error ... %1";
- list endpoints take ``searchCriteria`` (``search``) and repeat the last page past the
  end unless ``past_end="empty"``; ``input_limits=True`` caps pageSize at 300, default 20;
- no general rate limit, as in core Magento; ``rate_limit=N`` plays a CDN allowing N requests
  per ``rate_window`` seconds (429 ``{"message":"Too Many Requests","trace":null}`` with
  Retry-After), and the fault plan's 429 bursts answer the same;
- webhook deliveries signed with the instance's RSA key (``webhooks``); the public key
  is in :meth:`credentials` and at ``GET /sandbox/adobe/webhook-public-key``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from ..base import Emulator, FaultPlan
from . import api
from . import webhooks as hooks
from .auth import AdminTokens, ImsTokens, Integration, OAuthVerifier, header_params
from .docs import encode, wire
from .errors import AdobeError, internal_error, not_authorized, route_not_found, too_many_requests
from .search import project
from .store import AdobeStore, Event

IMS_TOKEN_PATH = "/ims/token/v3"
PUBLIC_KEY_PATH = "/sandbox/adobe/webhook-public-key"
_PAAS = re.compile(r"^/rest(?:/([^/]+))?/V1/(.*)$")
_SAAS = re.compile(r"^/([^/]+)/V1/(.*)$")
_TOKEN_ROUTES = ("integration/admin/token", "tfa/provider/google/authenticate")
ADMIN_LOGIN_FAILED = ("The account sign-in was incorrect or your account is disabled temporarily. "
                      "Please wait and try again later.")
TWO_FACTOR = "Please use the 2fa provider-specific endpoints to obtain a token."


class AdobeEmulator(Emulator):
    """A stateful Adobe Commerce. Seed through :attr:`store` (see ``seed``) under :attr:`lock`."""

    system = "adobe"

    def __init__(
        self, faults: FaultPlan | None = None, *, clock: Callable[[], float] = time.time,
        tenant_id: str = "sandboxtenant01", bearer_enabled: bool = False, two_factor: bool = False,
        admin_token_ttl: float = 4 * 3600.0, ims_token_ttl: float = 86_399.0, past_end: str = "repeat",
        input_limits: bool = False, oauth_reader: str = "magento", rate_limit: int | None = None,
        rate_window: float = 60.0, require_api_key: bool = True, signed_message: str = "base64-body",
        customer_attributes: set[str] | None = None,
    ) -> None:
        super().__init__(faults)
        if past_end not in ("repeat", "empty"):
            raise ValueError("past_end is 'repeat' or 'empty'")
        self.clock, self.tenant_id = clock, tenant_id
        self.bearer_enabled, self.two_factor, self.past_end = bearer_enabled, two_factor, past_end
        self.input_limits, self.require_api_key = input_limits, require_api_key
        self.rate_limit, self.rate_window = rate_limit, rate_window
        self.store = AdobeStore(clock, customer_attributes)
        self.integration = Integration(consumer_id=1)
        self.oauth = OAuthVerifier([self.integration], clock, oauth_reader)
        self.admin = AdminTokens(clock, admin_token_ttl)
        self.admin_username, self.admin_password, self.otp = "admin", "sandbox-" + secrets.token_hex(8), "123456"
        self.ims = ImsTokens(clock, "adobe-sandbox-client", "p8e-" + secrets.token_hex(16),
                             "0123456789ABCDEF01234567@AdobeOrg", ims_token_ttl)
        self.signer = hooks.WebhookSigner(signed_message=signed_message)
        self.auth_modes: Counter[str] = Counter()
        self.paths: list[str] = []
        self._calls: deque[float] = deque()

    # -- what a client needs ------------------------------------------------------------

    def credentials(self) -> dict:
        """Everything ``sandbox serve`` prints: base URLs and the secrets of every auth mode."""
        i = self.integration
        return {
            "base_url": self.base_url, "rest_url": f"{self.base_url}/rest/default",
            "saas_url": f"{self.base_url}/{self.tenant_id}",
            "tenant_id": self.tenant_id, "consumer_key": i.consumer_key, "consumer_secret": i.consumer_secret,
            "access_token": i.access_token, "access_token_secret": i.access_token_secret,
            "bearer_enabled": self.bearer_enabled, "username": self.admin_username, "password": self.admin_password,
            "two_factor": self.two_factor, "otp": self.otp if self.two_factor else None,
            "ims_client_id": self.ims.client_id, "ims_client_secret": self.ims.client_secret,
            "ims_org_id": self.ims.org_id, "ims_token_url": self.base_url + IMS_TOKEN_PATH,
            "webhook_public_key": self.signer.public_key_pem(), "webhook_hmac_secret": self.signer.hmac_secret,
            "stores": {s["code"]: {"store_id": s["id"], "website_id": s["website_id"]} for s in self.store.stores.values()},
        }

    def expire_tokens(self) -> None:
        """Every admin and IMS token dies now (as if 4 h / 24 h had passed)."""
        with self.lock:
            self.admin.expire_all()
            self.ims.expire_all()

    # -- webhooks -----------------------------------------------------------------------

    def document(self, kind: str, entity_id: Any) -> dict:
        """A stored document as the REST API would answer it."""
        with self.lock:
            return wire(self.store.get(kind, entity_id))

    def webhook_delivery(self, kind: str, entity_id: Any, *, scheme: str = "rsa",
                         event_name: str | None = None) -> tuple[bytes, dict[str, str]]:
        """(raw body, headers) of the webhook Commerce sends for this document, signed by ``scheme``
        (``rsa``: ``x-adobe-commerce-webhook-signature``; ``hmac``: legacy ``x-adobe-signature``)."""
        body = hooks.encode(hooks.webhook_payload(kind, self.document(kind, entity_id), event_name))
        return body, {"Content-Type": "application/json", **self.signer.sign(body, scheme)}

    def io_event_delivery(self, kind: str, entity_id: Any, event_name: str | None = None) -> tuple[bytes, dict[str, str]]:
        """(raw body, headers) of an I/O Events (CloudEvents) delivery for this document."""
        doc = self.document(kind, entity_id)
        body = hooks.encode(hooks.io_event(kind, doc, event_name, self.ims.client_id, self.store.now()))
        return body, {"Content-Type": "application/json", **self.signer.sign_io_event(body)}

    def events(self, since: int = 0) -> list[Event]:
        """The change log from position ``since`` (what webhooks would have reported)."""
        with self.lock:
            return list(self.store.events[since:])

    def send_webhooks(self, url: str, events: Iterable[Event] | None = None, *, scheme: str = "rsa",
                      http: httpx.Client | None = None) -> list[httpx.Response]:
        """POST a signed delivery per event (default: the whole log) to ``url``; the answers
        should be ``{"op": "success"}`` or ``{"op": "exception", ...}`` (§A.7)."""
        client = http or httpx.Client(timeout=10)
        try:
            answers = []
            for event in self.events() if events is None else events:
                if event.kind not in hooks.EVENTS or event.id not in self.store.tables.get(event.kind, {}):
                    continue
                body, headers = self.webhook_delivery(event.kind, event.id, scheme=scheme, event_name=event.name)
                answers.append(client.post(url, content=body, headers=headers))
            return answers
        finally:
            if http is None:
                client.close()

    # -- the Emulator contract ----------------------------------------------------------

    def is_write(self, request: httpx.Request) -> bool:
        path = request.url.path
        return (request.method in ("POST", "PUT", "DELETE") and "/V1/" in path
                and not any(path.endswith(t) for t in _TOKEN_ROUTES))

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "429":
            return _answer(too_many_requests(), {"Retry-After": str(self.faults.retry_after)})
        return _answer(internal_error())

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        self.paths.append(path)
        if path == IMS_TOKEN_PATH:
            return self.ims.token_endpoint(request)
        if path == PUBLIC_KEY_PATH and request.method == "GET":
            return httpx.Response(200, text=self.signer.public_key_pem(), headers={"Content-Type": "text/plain"})
        try:
            limited = self._rate_limited()
            if limited is not None:
                return limited
            return self._route(request, path)
        except AdobeError as error:
            return _answer(error)

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        paas, saas = _PAAS.match(path), _SAAS.match(path)
        if paas:
            code, rest = paas.groups()
            view = self.store.stores[1] if code in (None, "all") else self.store.store_by_code(code)
            if view is None:
                raise route_not_found()  # Magento reads an unknown store code as part of the route
            if rest in _TOKEN_ROUTES and request.method == "POST":
                return self._admin_token(request, rest)
        elif saas and saas.group(1) == self.tenant_id:
            view, rest = self.store.stores[1], saas.group(2)
        else:
            raise route_not_found()
        handler, args, resource = api.match(request.method, rest)
        if paas:
            self._authenticate_paas(request, resource)
        else:
            self._authenticate_saas(request, resource)
        ctx = api.Context(request, self.store, view, self.past_end, self.input_limits)
        return _json(200, project(handler(ctx, *args), request.url.params.get("fields")))

    # -- auth ---------------------------------------------------------------------------

    def _authenticate_paas(self, request: httpx.Request, resource: str) -> None:
        header = request.headers.get("authorization", "")
        if header[:5].lower() == "oauth":
            oauth = header_params(header)
            if not oauth:
                raise not_authorized(resource)
            self.oauth.verify(request, oauth)
            self.auth_modes["oauth1"] += 1
            return
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and self.admin.valid(token):
            self.auth_modes["admin"] += 1
            return
        integration = self.integration
        if (scheme.lower() == "bearer" and self.bearer_enabled and token == integration.access_token
                and not integration.revoked):
            self.auth_modes["bearer"] += 1
            return
        raise not_authorized(resource)

    def _authenticate_saas(self, request: httpx.Request, resource: str) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.ims.valid(token.strip()):
            raise not_authorized(resource)
        if self.require_api_key and request.headers.get("x-api-key") != self.ims.client_id:
            # [U] the gateway's body; the reference only says 403 means wrong org or permissions
            raise AdobeError(403, "Api Key is invalid", extra={"error_code": "403003"})
        org = request.headers.get("x-gw-ims-org-id")
        if org is not None and org != self.ims.org_id:
            raise AdobeError(403, "The consumer isn't authorized to access %resources.", {"resources": resource})
        self.auth_modes["ims"] += 1

    def _admin_token(self, request: httpx.Request, route: str) -> httpx.Response:
        body = api.Context(request, self.store, self.store.stores[1]).body()
        body = body if isinstance(body, dict) else {}
        if body.get("username") != self.admin_username or body.get("password") != self.admin_password:
            raise AdobeError(401, ADMIN_LOGIN_FAILED)
        if route == "integration/admin/token" and self.two_factor:
            raise AdobeError(401, TWO_FACTOR, {"active_providers": ["google"]})
        if route != "integration/admin/token" and str(body.get("otp")) != self.otp:
            raise AdobeError(401, "Invalid code.")
        return _json(200, self.admin.issue(1))  # a bare JSON string (§A.1)

    def _rate_limited(self) -> httpx.Response | None:
        if self.rate_limit is None:
            return None
        now = self.clock()
        while self._calls and self._calls[0] <= now - self.rate_window:
            self._calls.popleft()
        if len(self._calls) >= self.rate_limit:
            wait = max(1, int(self._calls[0] + self.rate_window - now + 0.999))
            return _answer(too_many_requests(), {"Retry-After": str(wait)})
        self._calls.append(now)
        return None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=encode(body),
                          headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def _answer(error: AdobeError, headers: dict[str, str] | None = None) -> httpx.Response:
    # not through wire(): an error body keeps its nulls ({"message": ..., "trace": null})
    return httpx.Response(error.status, content=json.dumps(error.body(), default=str).encode("utf-8"),
                          headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})
