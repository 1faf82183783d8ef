"""QuickBooks Online emulator: the OAuth token endpoint and the Accounting API v3 of many companies.

Behaves as the reference sheet (§B, and its emulator checklist) describes the real service:
- ``POST /oauth2/v1/tokens/bearer`` with HTTP Basic client auth; access tokens live an hour;
  every refresh rotates the refresh token (``rotate_every=0``) and the previous one is dead at
  once, so reusing it gives ``400 invalid_grant``;
- ``/v3/company/{realm}/...``: lower-case entity paths (create, read, sparse and full update,
  delete), ``query`` (the grammar in ``query``), ``cdc`` (30-day look-back, 1000 objects
  shared), ``batch`` (at most 30 items, serial, earlier items invisible, per-item Faults in a
  200), ``companyinfo/{realm}``;
- a bearer token for the wrong realm gets 403 (3100); an expired one a lower-case 401
  ``fault`` with code 3200, as real responses spell it;
- ``requestid`` replay per realm: a repeated id returns the first answer, nothing runs twice;
- per-realm throttling (500/min, 10 concurrent, 40 batches/min) -> 429 with Fault 3001;
- ``faults_in_200=True`` answers every validation Fault with HTTP 200, as QBO sometimes does;
- ``intuit_tid`` on every answer; webhook notifications signed like Intuit's.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx

from ..base import Emulator, FaultPlan
from . import api
from .limits import QboLimits, Throttle
from .store import Change, QboFault, RealmStore, encode
from .webhooks import change_from, cloudevents_payload, legacy_payload, signed

TOKEN_PATH = "/oauth2/v1/tokens/bearer"
_API = re.compile(r"^/v3/company/([^/]+)/(.+)$")
COMPANY_TZ = timezone(timedelta(hours=-7))  # QBO stamps times in the company's offset
REQUEST_ID_MAX, BATCH_REQUEST_ID_MAX = 50, 36


class QboEmulator(Emulator):
    """A stateful QBO. Seed with ``add_*``, inspect with :meth:`entities` and :meth:`changes`."""

    system = "qbo"

    def __init__(
        self, faults: FaultPlan | None = None, *, realm_id: str = "9341453050198765",
        client_id: str = "qbo-sandbox-client", client_secret: str = "qbo-sandbox-secret",
        verifier_token: str = "qbo-sandbox-verifier", access_ttl: float = 3600.0,
        refresh_ttl: float = 8_726_400.0, rotate_every: float = 0.0, limits: QboLimits | None = QboLimits(),
        faults_in_200: bool = False, unique_docnumber: bool = False, clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults)
        self.client_id, self.client_secret, self.verifier_token = client_id, client_secret, verifier_token
        self.access_ttl, self.refresh_ttl, self.rotate_every = access_ttl, refresh_ttl, rotate_every
        self.faults_in_200, self.unique_docnumber, self.clock = faults_in_200, unique_docnumber, clock
        self.throttle = Throttle(limits or QboLimits.off(), clock)
        self.realms: dict[str, RealmStore] = {}
        self._access: dict[str, tuple[str, float]] = {}  # token -> (realm, expires at)
        self._refresh: dict[str, tuple[str, float, float]] = {}  # token -> (realm, issued, expires)
        self.tokens_issued = self.refreshes = self.replays = 0
        self.minorversions: list[str | None] = []
        self.realm_id = self.add_realm(realm_id)

    # -- seeding and inspection ---------------------------------------------------------

    def add_realm(self, realm_id: str) -> str:
        """A new, empty company, connected: it gets a refresh token (see :meth:`credentials`)."""
        with self.lock:
            self.realms[realm_id] = RealmStore(realm_id, self.clock, COMPANY_TZ,
                                               unique_docnumber=self.unique_docnumber)
            self._issue_refresh(realm_id)
        return realm_id

    def credentials(self, realm: str | None = None) -> dict:
        """What a client needs; ``refresh_token`` is the realm's *current* one."""
        return {
            "client_id": self.client_id, "client_secret": self.client_secret,
            "realm_id": realm or self.realm_id, "refresh_token": self.current_refresh_token(realm),
            "base_url": self.base_url, "token_url": self.base_url + TOKEN_PATH,
            "verifier_token": self.verifier_token,
        }

    def current_refresh_token(self, realm: str | None = None) -> str | None:
        """The newest live refresh token of ``realm`` (None once revoked)."""
        realm = realm or self.realm_id
        with self.lock:
            live = [(issued, t) for t, (r, issued, _) in self._refresh.items() if r == realm]
        return max(live)[1] if live else None

    def add(self, entity: str, body: dict, realm: str | None = None) -> dict:
        """Create any supported object directly (validated as an API create would be)."""
        with self.lock:
            return self._store(realm).create(entity, _decimals(body))

    def add_vendor(self, display_name: str, realm: str | None = None, **fields: Any) -> dict:
        """A vendor named ``display_name``; extra wire fields (``PrimaryEmailAddr=...``) pass through."""
        return self.add("Vendor", {"DisplayName": display_name, **fields}, realm)

    def add_customer(self, display_name: str, realm: str | None = None, **fields: Any) -> dict:
        """A customer named ``display_name``; extra wire fields pass through."""
        return self.add("Customer", {"DisplayName": display_name, **fields}, realm)

    def add_account(self, name: str, account_type: str = "Expense", realm: str | None = None, **fields: Any) -> dict:
        """A chart-of-accounts entry (``AccountType`` Expense by default)."""
        return self.add("Account", {"Name": name, "AccountType": account_type, **fields}, realm)

    def add_item(self, name: str, *, unit_price: Any = None, purchase_cost: Any = None, type: str = "NonInventory",
                 sku: str | None = None, realm: str | None = None, **fields: Any) -> dict:
        """An item (NonInventory by default); prices may be str, float or Decimal."""
        body = {"Name": name, "Type": type, "UnitPrice": unit_price, "PurchaseCost": purchase_cost, "Sku": sku}
        return self.add("Item", {**{k: v for k, v in body.items() if v is not None}, **fields}, realm)

    def add_invoice(self, customer_id: str, lines: Iterable[dict], *, doc_number: str | None = None,
                    txn_date: str | None = None, realm: str | None = None, **fields: Any) -> dict:
        """An invoice; each line is ``{"item_id", "qty", "unit_price"[, "amount", "description"]}``
        or a raw QBO ``Line`` dict."""
        body: dict = {"CustomerRef": {"value": str(customer_id)}, "Line": [_sales_line(ln) for ln in lines], **fields}
        if doc_number:
            body["DocNumber"] = doc_number
        if txn_date:
            body["TxnDate"] = txn_date
        return self.add("Invoice", body, realm)

    def receive(self, po_id: str, realm: str | None = None) -> dict:
        """Receive purchase order ``po_id`` in full, as a person does in QBO by billing it: a Bill
        of the PO's vendor and lines, linked to it; the PO is then Closed and lists the bill."""
        with self.lock:
            store = self._store(realm)
            po = store.read("PurchaseOrder", po_id)
            lines = [{k: v for k, v in ln.items() if k not in ("Id", "LineNum")} for ln in po["Line"]]
            bill = {"VendorRef": po["VendorRef"], "Line": lines, "LinkedTxn": [{"TxnId": po_id, "TxnType": "PurchaseOrder"}]}
            return store.create("Bill", {**bill, **({"TxnDate": po["TxnDate"]} if po.get("TxnDate") else {})})

    def edit(self, entity: str, id: str, realm: str | None = None, **fields: Any) -> dict:
        """Change an object behind the client's back (someone in the QBO UI): SyncToken + 1."""
        with self.lock:
            return self._store(realm).update(entity, {"Id": id, "sparse": True, **_decimals(fields)})

    def void(self, entity: str, id: str, realm: str | None = None) -> dict:
        """Void an object as someone in the QBO UI does (an invoice: zeroed, noted "Voided")."""
        with self.lock:
            store = self._store(realm)
            return store.void(entity, {"Id": id, "SyncToken": store.read(entity, id)["SyncToken"]})

    def remove(self, entity: str, id: str, realm: str | None = None) -> dict:
        """Delete a transaction as someone in the QBO UI does (CDC then reports a stub)."""
        with self.lock:
            store = self._store(realm)
            return store.delete(entity, {"Id": id, "SyncToken": store.read(entity, id)["SyncToken"]})

    def entities(self, entity: str, realm: str | None = None) -> list[dict]:
        """Every object of ``entity`` (inactive ones included), in Id order."""
        with self.lock:
            return self._store(realm).rows(entity)

    def changes(self, realm: str | None = None) -> list[Change]:
        """The change log (what webhooks report), oldest first."""
        with self.lock:
            return list(self._store(realm).changes)

    def expire_access_tokens(self) -> None:
        """Make every access token expired, as if an hour had passed."""
        with self.lock:
            self._access = {t: (r, float("-inf")) for t, (r, _) in self._access.items()}

    def revoke(self, realm: str | None = None) -> None:
        """Disconnect a company: its refresh and access tokens stop working (-> invalid_grant)."""
        realm = realm or self.realm_id
        with self.lock:
            self._refresh = {t: v for t, v in self._refresh.items() if v[0] != realm}
            self._access = {t: v for t, v in self._access.items() if v[0] != realm}

    def signed_notification(self, events: Iterable[Change | dict] | None = None,
                            fmt: str = "legacy") -> tuple[bytes, dict[str, str]]:
        """A webhook delivery (raw body, headers) for ``events`` (default: the whole change log of
        the default realm), in the ``legacy`` or ``cloudevents`` shape, signed with the verifier token."""
        changes = [change_from(e, self.realm_id) for e in (self.changes() if events is None else events)]
        if fmt == "legacy":
            return signed(legacy_payload(changes), self.verifier_token)
        if fmt == "cloudevents":
            source = "intuit." + base64.b64encode(self.client_id.encode()).decode()
            return signed(cloudevents_payload(changes, source), self.verifier_token)
        raise ValueError("fmt is 'legacy' or 'cloudevents'")

    def _store(self, realm: str | None) -> RealmStore:
        return self.realms[realm or self.realm_id]

    # -- the Emulator contract ----------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Count the request in flight for its realm (the 10-concurrent limit) around the base
        handler; requests wait on the emulator's lock while in flight, as they would queue."""
        match = _API.match(request.url.path)
        if match is None:
            return super().handle(request)
        realm = match.group(1)
        if not self.throttle.enter(realm):
            return self._throttled()
        try:
            return super().handle(request)
        finally:
            self.throttle.leave(realm)

    def is_write(self, request: httpx.Request) -> bool:
        # The token endpoint is left out on purpose: a lost rotation answer kills the company
        # for good (peers §2.1), which no client can recover from; test that case explicitly.
        path = request.url.path
        return request.method == "POST" and path.startswith("/v3/") and not path.endswith("/query")

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "429":
            return self._throttled(retry_after=self.faults.retry_after)
        return httpx.Response(503, text="Service Unavailable", headers={"intuit_tid": _tid()})

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH and request.method == "POST":
            return self._token(request)
        match = _API.match(request.url.path)
        if match is None:
            return httpx.Response(404, text="Not Found", headers={"intuit_tid": _tid()})
        realm, rest = match.groups()
        denied = self._authenticate(request, realm)
        if denied is not None:
            return denied
        if not self.throttle.admit(realm, batch=rest == "batch"):
            return self._throttled()
        self.minorversions.append(request.url.params.get("minorversion"))
        return self._replayable(request, self.realms[realm], rest)

    def _replayable(self, request: httpx.Request, store: RealmStore, rest: str) -> httpx.Response:
        request_id = request.url.params.get("requestid")
        if request_id and len(request_id) > (BATCH_REQUEST_ID_MAX if rest == "batch" else REQUEST_ID_MAX):
            return self._fault(store, QboFault(400, "2010", "Request has invalid or unsupported property",
                                               "requestid is too long"))
        if request_id and request_id in store.replies:
            self.replays += 1  # the original answer, nothing executed again (reference §B.9)
            status, content = store.replies[request_id]
            return httpx.Response(status, content=content, headers=_headers())
        try:
            response = self._reply(200, api.route(request, store, rest))
        except QboFault as fault:
            response = self._fault(store, fault)
        if request_id:
            store.replies[request_id] = (response.status_code, response.content)
        return response

    # -- auth ---------------------------------------------------------------------------

    def _issue_refresh(self, realm: str) -> str:
        token = "RT1-" + secrets.token_urlsafe(24)
        now = self.clock()
        self._refresh[token] = (realm, now, now + self.refresh_ttl)
        return token

    def _token(self, request: httpx.Request) -> httpx.Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            client_id = secret = ""
        if scheme.lower() != "basic" or (client_id, secret) != (self.client_id, self.client_secret):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        form = {k: v[0] for k, v in parse_qs(request.content.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", "Only refresh_token is supported here")
        token, now = form.get("refresh_token", ""), self.clock()
        entry = self._refresh.get(token)
        if entry is None or entry[2] <= now:
            return _oauth_error(400, "invalid_grant", "Incorrect or invalid refresh token")
        realm, issued, _ = entry
        if now - issued >= self.rotate_every:  # rotate: the previous token stops working now
            del self._refresh[token]
            token = self._issue_refresh(realm)
        else:  # same token, rolling expiry
            self._refresh[token] = (realm, issued, now + self.refresh_ttl)
        access = "eyJ.emu." + secrets.token_urlsafe(24)
        self._access = {t: v for t, v in self._access.items() if v[1] > now}  # forget dead tokens
        self._access[access] = (realm, now + self.access_ttl)
        self.tokens_issued += 1
        self.refreshes += 1
        body = {"token_type": "bearer", "access_token": access, "refresh_token": token,
                "expires_in": int(self.access_ttl), "x_refresh_token_expires_in": int(self.refresh_ttl)}
        return httpx.Response(200, json=body, headers={"Cache-Control": "no-store", "intuit_tid": _tid()})

    def _authenticate(self, request: httpx.Request, realm: str) -> httpx.Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        entry = self._access.get(token) if scheme.lower() == "bearer" else None
        if entry is None or entry[1] <= self.clock():
            body = {"fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                         "detail": "Token expired or invalid", "code": "3200"}],
                              "type": "AUTHENTICATION"}, "time": _now_iso(self.clock)}
            return httpx.Response(401, content=encode(body), headers=_headers())
        if entry[0] != realm or realm not in self.realms:
            body = {"Fault": {"Error": [{"Message": "message=ApplicationAuthorizationFailed; errorCode=003100; "
                                         "statusCode=403", "Detail": "", "code": "3100"}],
                              "type": "AuthorizationFault"}, "time": _now_iso(self.clock)}
            return httpx.Response(403, content=encode(body), headers=_headers())
        return None

    # -- API ----------------------------------------------------------------------------

    # -- answers ------------------------------------------------------------------------

    def _reply(self, status: int, body: dict) -> httpx.Response:
        return httpx.Response(status, content=encode(body), headers=_headers())

    def _fault(self, store: RealmStore, fault: QboFault) -> httpx.Response:
        status = 200 if self.faults_in_200 and fault.status == 400 else fault.status
        return self._reply(status, {"Fault": fault.fault(), "time": store.now()})

    def _throttled(self, retry_after: float | None = None) -> httpx.Response:
        body = {"Fault": {"Error": [{"Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                                     "Detail": "The request limit was reached.", "code": "3001"}],
                          "type": "SERVICE"}, "time": _now_iso(self.clock)}
        headers = _headers()
        if retry_after is not None:  # only injected faults carry one; QBO documents none
            headers["Retry-After"] = str(retry_after)
        return httpx.Response(429, content=encode(body), headers=headers)


def _decimals(value: Any) -> Any:
    """Seeded values with floats turned into Decimal (through their text), as parsed JSON would be."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _sales_line(line: dict) -> dict:
    if "DetailType" in line:
        return line
    qty, price = Decimal(str(line.get("qty", 1))), Decimal(str(line.get("unit_price", 0)))
    detail = {"ItemRef": {"value": str(line["item_id"])}, "Qty": qty, "UnitPrice": price}
    out = {"DetailType": "SalesItemLineDetail", "Amount": Decimal(str(line.get("amount", qty * price))),
           "SalesItemLineDetail": detail}
    if line.get("description"):
        out["Description"] = line["description"]
    return out


def _oauth_error(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description},
                          headers={"intuit_tid": _tid()})


def _tid() -> str:
    return "1-" + uuid.uuid4().hex[:24]


def _headers() -> dict[str, str]:
    return {"Content-Type": "application/json;charset=UTF-8", "intuit_tid": _tid()}


def _now_iso(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), COMPANY_TZ).isoformat(timespec="milliseconds")
