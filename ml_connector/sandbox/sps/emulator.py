"""SPS Commerce emulator: the OAuth token endpoint and the v5 Transaction API file tree.

Behaves as the reference sheet (§A.8) describes the real service:
- ``POST /oauth/token`` (client credentials, form or JSON body, either audience) on the same
  server, so one base URL serves both; tokens expire after ``token_ttl`` seconds;
- ``/transactions/v5/data/{path}``: GET a directory (ending in ``/``) lists it sorted by name
  with an opaque Base64 cursor (names after the cursor), ``limit`` 1..1000 and
  ``entryNamePrefix``; GET a file returns its raw bytes; POST overwrites; DELETE answers 204;
- ``/transactions/v5/history``: the status log of every upload, each event served once it is
  ``history_lag`` seconds old, ``after``/``until`` and ``offset``/``limit`` as documented
  (history.py);
- SPS takes every file we upload to ``in/`` and passes it on to the trading partner: with
  ``pickup_after`` set, a file is removed that many seconds after its last upload (a ``deleted``
  event in its status log) and the pickup is recorded in :meth:`SpsEmulator.deliveries`, so a
  second upload after a pickup shows as a second transaction (:meth:`delivered_twice`). Without
  it (the default) ``in/`` keeps every file, as before;
- RFC 7807 problem+json errors that echo ``X-Request-ID`` as ``requestId``; an empty listing
  comes back with ``results`` and ``paging`` null, as one real client's tests show.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx

from ..base import Emulator, FaultPlan
from .history import Deliveries, Delivery, History, parse_query_time

DATA = "/transactions/v5/data/"
AUDIENCES = ("https://spscommerce.com", "api://api.spscommerce.com/")
ROOTS = ("in/", "out/")
PROBLEM = "application/problem+json"
QUERY_FIELDS = ("limit", "cursor", "after", "until")


class SpsEmulator(Emulator):
    """A stateful SPS Transaction API. Seed with :meth:`put_out`, inspect with :meth:`inbox`
    and :meth:`deliveries`.

    ``pickup_after``: seconds after its last upload at which SPS takes an ``in/`` file (None:
    never). ``history_lag``: seconds before an event shows in the history. Both may be changed
    on a running emulator. ``clock`` times tokens; ``wall`` (seconds since the epoch) times the
    history and pickups, which clients compare with their own clocks."""

    system = "sps"

    def __init__(
        self, faults: FaultPlan | None = None, *, client_id: str = "sps-sandbox-client",
        client_secret: str = "sps-sandbox-secret", token_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic, pickup_after: float | None = None,
        history_lag: float = 0.0, wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults)
        self.client_id, self.client_secret, self.token_ttl = client_id, client_secret, token_ttl
        self.clock, self.wall = clock, wall
        self.pickup_after, self.history_lag = pickup_after, history_lag
        self._tokens: dict[str, float] = {}
        self._files: dict[str, bytes] = {}
        self._paths: list[str] = []  # sorted keys of _files: listing is a bisect, not a sort
        self._history = History()
        self._due: dict[str, float] = {}  # in/ path -> when SPS takes it
        self._deliveries = Deliveries()
        self._deleted: list[str] = []
        self.tokens_issued = 0

    # -- seeding and inspection ---------------------------------------------------------

    def credentials(self) -> dict:
        """What a client needs: both URLs point at this one server."""
        return {
            "client_id": self.client_id, "client_secret": self.client_secret, "base_url": self.base_url,
            "token_url": self.base_url + "/oauth/token", "audience": AUDIENCES[0],
        }

    def put_out(self, name: str, content: bytes) -> str:
        """Place a file SPS delivers to us under ``out/``; returns its path."""
        path = "out/" + name.lstrip("/")
        with self.lock:
            self._store(path, content, direction="out")
        return path

    def files(self, prefix: str = "") -> dict[str, bytes]:
        """Every stored file whose path starts with ``prefix``, as path -> bytes."""
        with self.lock:
            self.pick_up()
            return {p: self._files[p] for p in self._paths if p.startswith(prefix)}

    def inbox(self) -> dict[str, bytes]:
        """The files we uploaded (under ``in/``)."""
        return self.files("in/")

    def deleted(self) -> list[str]:
        """Paths deleted through the API, in order (SPS's own pickups are not among them)."""
        with self.lock:
            return list(self._deleted)

    def history(self) -> list[dict]:
        """The status log of every upload, as ``GET /transactions/v5/history`` reports it
        once the lag has passed."""
        with self.lock:
            self.pick_up()
            return self._history.rows()

    def deliveries(self) -> list[Delivery]:
        """Every file SPS took from ``in/`` and passed on, in order: what retailers received."""
        with self.lock:
            self.pick_up()
            return self._deliveries.all()

    def delivered_twice(self) -> dict[str, int]:
        """Paths SPS passed on more than once, with the count: duplicate transactions."""
        with self.lock:
            self.pick_up()
            return self._deliveries.twice()

    def pick_up(self) -> int:
        """Take every ``in/`` file whose pickup time has come; returns how many. Runs before each
        request and inspection, so pickups happen on time as far as anyone can observe."""
        with self.lock:
            now = self.wall()
            due = sorted((at, path) for path, at in self._due.items() if at <= now)
            for at, path in due:
                del self._due[path]
                self._deliveries.record(path, self._files[path], at)
                self._remove(path)
                self._history.log(path, "deleted", at, "processed by SPS")
            return len(due)

    def expire_tokens(self) -> None:
        """Make every issued token expired, as if ``token_ttl`` had passed."""
        with self.lock:
            self._tokens = dict.fromkeys(self._tokens, float("-inf"))

    # -- the Emulator contract ----------------------------------------------------------

    def is_write(self, request: httpx.Request) -> bool:
        return request.method in ("POST", "DELETE") and request.url.path.startswith(DATA)

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "429":
            detail = f"Request for resource '{request.url.path}' has been rate-limited."
            return self._problem(request, 429, "Too Many Requests", detail,
                                 headers={"Retry-After": str(self.faults.retry_after)})
        return self._problem(request, 503, "Service Unavailable", "The service is temporarily unavailable.")

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        self.pick_up()
        path = request.url.path
        if path == "/oauth/token" and request.method == "POST":
            return self._token(request)
        if not path.startswith(DATA) and path != "/transactions/v5/history":
            return self._problem(request, 404, "Not Found", f"No route for {request.method} {path}.")
        if not self._authorized(request):
            return self._problem(request, 401, "Invalid Token", "The access token provided is invalid or expired.",
                                 headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if path == "/transactions/v5/history":
            return self._history_page(request)
        return self._data(request, path[len(DATA):])

    # -- auth ---------------------------------------------------------------------------

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = _token_form(request)
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _oauth_error(401, "access_denied", "Unauthorized")
        if form.get("audience") not in AUDIENCES:
            return _oauth_error(403, "access_denied", f"Service not found: {form.get('audience')}")
        now = self.clock()
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}  # forget dead tokens
        token = f"emu.{uuid.uuid4().hex}"
        self._tokens[token] = now + self.token_ttl
        self.tokens_issued += 1
        body = {"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_ttl)}
        return httpx.Response(200, json=body, headers={"Cache-Control": "no-store"})

    def _authorized(self, request: httpx.Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expires = self._tokens.get(token) if scheme.lower() == "bearer" else None
        return expires is not None and self.clock() < expires

    # -- files --------------------------------------------------------------------------

    def _data(self, request: httpx.Request, path: str) -> httpx.Response:
        if not path.startswith(ROOTS):
            return self._problem(request, 404, "Not Found", f"'{path}' is outside in/ and out/.")
        if request.method == "GET":
            return self._list(request, path) if path.endswith("/") else self._get(request, path)
        if path.endswith("/"):
            return self._problem(request, 405, "Method Not Allowed", "Directories cannot be written or deleted.")
        if request.method == "POST":
            return self._post(request, path)
        if request.method == "DELETE":
            return self._delete(request, path)
        return self._problem(request, 405, "Method Not Allowed", f"{request.method} is not supported.")

    def _get(self, request: httpx.Request, path: str) -> httpx.Response:
        if path not in self._files:
            return self._problem(request, 404, "Not Found", f"File '/{path}' does not exist.")
        self._log(path, "downloaded")
        return httpx.Response(200, content=self._files[path], headers={"Content-Type": "application/octet-stream"})

    def _post(self, request: httpx.Request, path: str) -> httpx.Response:
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip() != "application/octet-stream":
            return self._problem(request, 415, "Unsupported Media Type",
                                 "Content-Type must be application/octet-stream.", field="Content-Type", value=ctype)
        self._store(path, request.content, direction="in")
        body = {"path": "/" + path, "url": self.base_url + DATA + path}
        return httpx.Response(200, json=body)

    def _delete(self, request: httpx.Request, path: str) -> httpx.Response:
        if path not in self._files:
            return self._problem(request, 404, "Not Found", f"File '/{path}' does not exist.")
        self._remove(path)
        self._due.pop(path, None)  # deleted before SPS took it: nothing is passed on
        self._deleted.append(path)
        self._log(path, "deleted")
        return httpx.Response(204)

    def _remove(self, path: str) -> None:
        del self._files[path]
        del self._paths[bisect.bisect_left(self._paths, path)]

    def _store(self, path: str, content: bytes, *, direction: str) -> None:
        if path not in self._files:
            bisect.insort(self._paths, path)
        self._files[path] = bytes(content)
        now = self.wall()
        self._history.uploaded(path, direction, now)
        if path.startswith("in/") and self.pickup_after is not None:
            # an overwrite before the pickup replaces what will be passed on
            self._due[path] = now + self.pickup_after

    def _log(self, path: str, status: str) -> None:
        self._history.log(path, status, self.wall())

    # -- listing ------------------------------------------------------------------------

    def _list(self, request: httpx.Request, directory: str) -> httpx.Response:
        params = request.url.params
        limit = _int(params.get("limit", "1000"))
        if limit is None or not 1 <= limit <= 1000:
            code = "INPUT_INVALID_TYPE" if limit is None else "INPUT_MIN_VALUE" if limit < 1 else "INPUT_MAX_VALUE"
            return self._problem(request, 400, "Bad Request", "limit must be between 1 and 1000.",
                                 code=code, field="limit", value=params.get("limit"))
        try:
            after = _decode_cursor(params.get("cursor"))
        except ValueError:
            return self._problem(request, 400, "Bad Request", "The cursor is not valid.", code="INVALID_CURSOR",
                                 field="cursor", value=params.get("cursor"))
        entries = self._entries(directory, params.get("entryNamePrefix", ""), after, limit + 1)
        page, more = entries[:limit], len(entries) > limit
        if not page:
            return httpx.Response(200, json={"results": None, "paging": None})
        return httpx.Response(200, json=self._listing(request, directory, page, limit, more))

    def _entries(self, directory: str, prefix: str, after: str | None, want: int) -> list[str]:
        """Up to ``want`` entry paths (files, and subdirectories ending in '/') after ``after``."""
        start = directory + prefix
        index = bisect.bisect_left(self._paths, start)
        if after and after > start:
            index = bisect.bisect_right(self._paths, after)
        out: list[str] = []
        while index < len(self._paths) and len(out) < want:
            path = self._paths[index]
            if not path.startswith(start):
                break
            rest = path[len(directory):]
            entry = directory + rest.split("/", 1)[0] + "/" if "/" in rest else path
            if entry != (out[-1] if out else None) and not (after and entry <= after):
                out.append(entry)
            index += 1
        return out

    def _listing(self, request: httpx.Request, directory: str, page: list[str], limit: int, more: bool) -> dict:
        results = [
            {"path": "/" + p, "type": "directory" if p.endswith("/") else "file", "url": self.base_url + DATA + p}
            for p in page
        ]
        next_link = None
        if more:
            cursor = base64.b64encode(("/" + page[-1]).encode()).decode()
            query = dict(request.url.params, cursor=cursor)
            next_link = {"cursor": cursor, "url": str(httpx.URL(self.base_url + DATA + directory, params=query))}
        return {"results": results, "paging": {"limit": limit, "next": next_link, "previous": None}}

    def _history_page(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit, offset = _int(params.get("limit", "100")), _int(params.get("offset", "0"))
        if limit is None or offset is None or not 1 <= limit <= 1000 or offset < 0:
            return self._problem(request, 400, "Bad Request", "limit must be 1..1000 and offset >= 0.")
        window = {}
        for name in ("after", "until"):
            if params.get(name):
                try:
                    window[name] = parse_query_time(params[name])
                except ValueError:
                    return self._problem(request, 400, "Bad Request", f"{name} must be YYYY-MM-DDTHH:mm:ss.",
                                         code="INVALID_INPUT", field=name, value=params[name])
        rows = self._history.rows(as_of=self.wall() - self.history_lag, **window)
        page = rows[offset:offset + limit]
        query = {k: params[k] for k in ("after", "until") if params.get(k)}
        nxt = {"url": str(httpx.URL(f"{self.base_url}/transactions/v5/history",
                                    params={**query, "offset": offset + limit, "limit": limit}))}
        paging = {"limit": limit, "offset": offset, "total_count": len(rows),
                  "next": nxt if offset + limit < len(rows) else None, "previous": None}
        return httpx.Response(200, json={"results": page, "paging": paging})

    # -- errors -------------------------------------------------------------------------

    def _problem(self, request: httpx.Request, status: int, title: str, detail: str, *,
                 headers: dict | None = None, code: str | None = None, field: str | None = None,
                 value: object = None) -> httpx.Response:
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        body: dict = {"title": title, "status": status, "detail": detail, "instance": request.url.path,
                      "requestId": request_id}
        if code or field:
            body["context"] = [{"code": code or "INVALID_INPUT", "message": detail, "field": field,
                                "source": "query" if field in QUERY_FIELDS else "header", "value": value}]
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={"Content-Type": PROBLEM, "X-Request-ID": request_id, **(headers or {})})


def _token_form(request: httpx.Request) -> dict[str, str]:
    """The token request's fields, from a form or a JSON body (clients send either)."""
    body = request.content.decode("utf-8", "replace")
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(body)
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(body).items()}


def _oauth_error(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _decode_cursor(cursor: str | None) -> str | None:
    """The path a cursor stands for (no leading slash), None without one; ValueError if forged."""
    if not cursor:
        return None
    try:
        path = base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError) as exc:
        raise ValueError("not a cursor this server issued") from exc
    if not path.startswith("/"):
        raise ValueError("not a cursor this server issued")
    return path[1:]
