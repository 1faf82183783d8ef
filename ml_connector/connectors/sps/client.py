"""SPS Commerce Transaction API v5: list, get, put and delete files under ``/transactions/v5/data``,
and read ``/transactions/v5/history``.

SPS calls files "transactions": what partners send us appears under ``out/``, what we send
goes to ``in/``. Every call goes through one :meth:`SpsClient._request`, which uses the shared
retry layer and one classifier for SPS's RFC 7807 problem+json errors. An upload is the one
request the retry layer must not resend blindly: SPS passes each file it takes from ``in/`` on
to the retailer, so :meth:`SpsClient.put` checks whether a failed attempt arrived before it
sends again (delivery.py).

Downloads are streamed and capped (``max_bytes``): a file larger than the cap is abandoned
after at most the cap plus one network chunk, counted after decompression (so a gzip bomb is
cut off too), and refused with a :class:`BadDocument` whose code is ``file-too-large``.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from .._http import (
    Bounds,
    RetryPolicy,
    build_client,
    call_deadline,
    error_class_for_status,
    excerpt,
    parse_retry_after,
    send,
)
from ..errors import BadDocument, IntegrationError, NotFound, RateLimited, TransientError
from . import delivery
from .auth import SpsConfig, SpsTokenAuth
from .delivery import Attempt, DeliveryUnknown, Verdict

DATA_PATH = "/transactions/v5/data/"
HISTORY_PATH = "/transactions/v5/history"
MAX_LIMIT = 1000
# Past this many files asked of one directory, one full listing is cheaper than a prefix query each.
PREFIX_QUERIES = 10
# Answers that say the server did not act on the request: resending the upload cannot add a
# transaction. Any other failure of an upload (a timeout, a dropped connection, 500, 502, 504)
# may come after SPS stored the file.
_NOT_ACTED_ON = {408, 429, 503}
# httpx errors raised before any of the request was sent.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ListPage(BaseModel):
    """One page of a directory listing. Paths carry no leading slash: ``out/PO1.xml``."""

    files: list[str] = []
    directories: list[str] = []
    next_cursor: str | None = None


class HistoryEntry(BaseModel):
    """One upload in SPS's history: its path (no leading slash) and its ``status_log`` as
    (status, UTC time) pairs."""

    id: str = ""
    path: str
    direction: str | None = None
    events: list[tuple[str, datetime]] = []


class HistoryPage(BaseModel):
    entries: list[HistoryEntry] = []
    total: int | None = None
    has_next: bool = False


# A client built here spreads the threads that use it over this many connection pools. One
# httpcore pool holds one lock while it hands out and takes back connections, checking every
# idle connection's socket each time: with 30 downloads in flight on one pool (runtime/io_pool.py,
# over a WAN) threads queued on that lock, and the same run took 25% longer and a third more CPU
# (sandbox, 50 ms per request, 2,000 files) than with the threads spread over 8 pools.
POOL_SHARDS = 8


def follow(seen: set[str], cursor: str | None) -> str | None:
    """``cursor``, remembered in ``seen``, when a listing may go on to it. Every walk of a
    listing goes through here: SPS handing back a cursor it gave before would loop forever."""
    if cursor and cursor in seen:
        raise TransientError("SPS repeated a listing cursor; stopping to avoid a loop",
                             system="sps", operation="list", code="cursor-repeated")
    if cursor:
        seen.add(cursor)
    return cursor


class SpsClient:
    """Thin client of the v5 Transaction API. Pass ``http`` to share or mock the transport.

    A client built here owns its ``httpx.Client`` (and up to ``POOL_SHARDS`` alike for other
    threads, sharing its auth and so its token) and closes them; a client passed in is used by
    every thread, left open, and gets an :class:`SpsTokenAuth` attached only if it has no auth
    of its own.
    """

    system = "sps"

    def __init__(self, config: SpsConfig, http: httpx.Client | None = None, policy: RetryPolicy | None = None,
                 max_file_bytes: int | None = None, history_lag: float | None = None,
                 pickup_min: float | None = None) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self.max_file_bytes = max_file_bytes  # the default cap of get(); None reads any size
        # what put() assumes of SPS; None: the settings (delivery.history_lag, delivery.pickup_min)
        self.history_lag, self.pickup_min = history_lag, pickup_min
        self._owns_http = http is None
        if http is None:
            auth = SpsTokenAuth(config)
            http = build_client(config.base_url, timeout=config.timeout, verify=config.verify, auth=auth)
        elif http.auth is None:
            http.auth = SpsTokenAuth(config)
        self.http = http
        self.auth = http.auth
        self._shards = [http]
        self._shard_lock = threading.Lock()
        self._thread_shard = threading.local()
        self._threads_seen = 0

    def __repr__(self) -> str:
        return f"SpsClient(base_url={self.config.base_url!r}, client_id={self.config.client_id!r})"

    # -- endpoints ----------------------------------------------------------------------

    def list_page(
        self, directory: str = "out/", *, cursor: str | None = None, limit: int = MAX_LIMIT, prefix: str | None = None
    ) -> ListPage:
        """One page of ``directory`` (sorted by name); pass ``next_cursor`` back for the next."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_LIMIT}, got {limit}")
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if prefix:
            params["entryNamePrefix"] = prefix
        directory = _clean(directory).rstrip("/") + "/"
        response = self._request("GET", directory, params=params, operation="list")
        return _list_page(response)

    def get(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The raw bytes of one file (XML, JSON or EDI, exactly as stored), read as a stream.

        Past ``max_bytes`` (default: the client's ``max_file_bytes``) the download stops and
        :class:`BadDocument` (code ``file-too-large``) is raised: a declared Content-Length over
        the cap is refused before any of the body is read."""
        cap = max_bytes if max_bytes is not None else self.max_file_bytes
        return self._request("GET", _clean(path), operation="get", max_bytes=cap).content

    def put(self, path: str, content: bytes) -> str:
        """Upload ``content`` to ``path`` and return the stored path (no leading slash).

        SPS overwrites a file it has not taken yet, but a file it took was passed on to the
        retailer: sending it again is a second transaction. So an attempt that may have reached
        SPS (a timeout, a dropped connection, a 5xx other than 503) is checked at once, while
        the file is most likely still in ``in/``: arrived -> done; never arrived -> sent again
        after the usual backoff; cannot tell yet -> :class:`DeliveryUnknown`, and nothing is sent.
        Failures that prove nothing was stored (429, 503, a refused connection) are retried as
        any other request's.
        """
        path = _clean(path)
        once = dataclasses.replace(self.policy, attempts=1)
        for attempt in range(1, self.policy.attempts + 1):
            started, witness = delivery.utcnow(), _Witness()
            try:
                return _stored(self._request("POST", path, content=content, operation="put", policy=once,
                                             witness=witness), path)
            except TransientError as exc:
                if _may_have_landed(exc, witness.error):
                    tried = Attempt(path, started, delivery.utcnow())
                    try:
                        verdict = self._settle(tried, content)
                    except TransientError as looking:  # SPS could not be asked: as unknown as before
                        raise DeliveryUnknown.of(tried, f"after {exc}; looking for it: {looking}") from None
                    if verdict.arrived:
                        return path
                    if verdict is not Verdict.ABSENT:
                        raise DeliveryUnknown.of(tried, f"after {exc}") from None
                if attempt == self.policy.attempts:
                    raise
                self.policy.sleep(self.policy.delay(attempt, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(self, tried: Attempt, content: bytes) -> Verdict:
        verdict = delivery.find(self, [tried], lag=self.history_lag, pickup=self.pickup_min).get(tried.path,
                                                                                               Verdict.UNKNOWN)
        if verdict is not Verdict.PRESENT:
            return verdict
        # Present with other bytes: an earlier version SPS has not taken yet, so this attempt
        # never overwrote it and sending again replaces it (a revision is still sent once).
        try:
            return Verdict.PRESENT if self.get(tried.path) == content else Verdict.ABSENT
        except NotFound:  # taken between the listing and the read: it was there
            return Verdict.PRESENT

    def present(self, paths: Iterable[str]) -> set[str]:
        """Which of ``paths`` are files in SPS now: a listing with ``entryNamePrefix`` per path,
        or one full listing of a directory when more than ``PREFIX_QUERIES`` of its files are asked."""
        by_dir: dict[str, set[str]] = defaultdict(set)
        for p in paths:
            directory, _, name = _clean(p).rpartition("/")
            by_dir[directory + "/"].add(name)
        found: set[str] = set()
        for directory, names in by_dir.items():
            for prefix in [None] if len(names) > PREFIX_QUERIES else sorted(names):
                found |= {f for f in self._all_files(directory, prefix) if f.rpartition("/")[2] in names}
        return found

    def _all_files(self, directory: str, prefix: str | None) -> list[str]:
        files: list[str] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_page(directory, cursor=cursor, prefix=prefix)
            files += page.files
            cursor = follow(seen, page.next_cursor)
            if not cursor:
                return files

    def history_page(self, *, after: datetime | None = None, until: datetime | None = None, limit: int = 100,
                     offset: int = 0) -> HistoryPage:
        """One page of ``GET /transactions/v5/history``: uploads with their status logs.
        ``after``/``until`` go as ``YYYY-MM-DDTHH:mm:ss`` in UTC (the documented format has no zone)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        for name, moment in (("after", after), ("until", until)):
            if moment is not None:
                params[name] = delivery.aware(moment).strftime("%Y-%m-%dT%H:%M:%S")
        response = self._send("GET", self.config.base_url.rstrip("/") + HISTORY_PATH, params=params,
                              operation="history")
        return _history_page(response)

    def delete(self, path: str) -> None:
        """Delete one file; SPS removes consumed ``out/`` files this way."""
        self._request("DELETE", _clean(path), operation="delete")

    def ping(self) -> None:
        """Check connectivity and credentials: fetch a token and list one entry of ``out/``."""
        self.list_page("out/", limit=1)

    # -- plumbing -----------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None,
        content: bytes | None = None, operation: str, max_bytes: int | None = None,
        policy: RetryPolicy | None = None, witness: _Witness | None = None,
    ) -> httpx.Response:
        url = self.config.base_url.rstrip("/") + DATA_PATH + quote(path, safe="/")
        return self._send(method, url, params=params, content=content, operation=operation, max_bytes=max_bytes,
                          policy=policy, witness=witness, label=path)

    def _send(
        self, method: str, url: str, *, params: dict[str, Any] | None = None, content: bytes | None = None,
        operation: str, max_bytes: int | None = None, policy: RetryPolicy | None = None,
        witness: _Witness | None = None, label: str = "",
    ) -> httpx.Response:
        headers = {"X-Request-ID": str(uuid.uuid4())}  # one id per logical call, reused on retries
        if content is not None:
            headers["Content-Type"] = "application/octet-stream"

        client = self._client()

        def build() -> httpx.Request:
            return client.build_request(method, url, params=params, content=content, headers=headers)

        http: Any = client
        if witness is not None:
            witness.http = http
            http = witness
        bounds = None if max_bytes is None else Bounds(max_bytes, call_deadline(),
                                                       functools.partial(_too_large, path=label or url, cap=max_bytes))
        return send(
            http, build, system=self.system, operation=operation,
            check=functools.partial(check, operation=operation), policy=policy or self.policy, bounds=bounds,
        )

    def _client(self) -> httpx.Client:
        """This thread's connection pool: threads take the pools in turn, on first use."""
        if not self._owns_http:
            return self.http
        client = getattr(self._thread_shard, "client", None)
        if client is None:
            with self._shard_lock:
                n = self._threads_seen % POOL_SHARDS
                self._threads_seen += 1
                while len(self._shards) <= n:
                    self._shards.append(build_client(self.config.base_url, timeout=self.config.timeout,
                                                     verify=self.config.verify, auth=self.auth))
                client = self._shards[n]
            self._thread_shard.client = client
        return client

    def close(self) -> None:
        """Close the HTTP clients if this object created them."""
        if self._owns_http:
            with self._shard_lock:
                for client in self._shards:
                    client.close()

    def __enter__(self) -> SpsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Witness:
    """Stands in for the ``httpx.Client`` inside ``_http.send`` and keeps the transport error
    an attempt ended with: whether any of an upload reached SPS depends on which it was."""

    def __init__(self) -> None:
        self.http: Any = None
        self.error: httpx.HTTPError | None = None

    def send(self, request: httpx.Request, **options: Any) -> httpx.Response:
        try:
            return self.http.send(request, **options)
        except httpx.HTTPError as exc:
            self.error = exc
            raise


def _may_have_landed(exc: TransientError, error: httpx.HTTPError | None) -> bool:
    if error is not None:
        return not isinstance(error, _NOT_SENT)
    return exc.status not in _NOT_ACTED_ON


def _stored(response: httpx.Response, path: str) -> str:
    try:
        stored = response.json().get("path")
    except (ValueError, AttributeError):
        stored = None
    return str(stored).lstrip("/") if stored else path


def _too_large(response: httpx.Response, what: str, *, path: str, cap: int) -> BadDocument:
    """A file past the download cap is a bad document (quarantined), not a failed call."""
    return BadDocument(f"SPS file {path} {what}, over the {cap:,} byte limit", system="sps", operation="get",
                       status=response.status_code, code="file-too-large", request_id=response.headers.get("x-request-id"))


def _clean(path: str) -> str:
    """A data path relative to ``/transactions/v5/data/``; rejects traversal and empties."""
    cleaned = path.lstrip("/")
    if not cleaned or any(part in (".", "..") for part in cleaned.split("/")):
        raise ValueError(f"invalid SPS path {path!r}")
    return cleaned


def _list_page(response: httpx.Response) -> ListPage:
    try:
        body = response.json() or {}
        results = body.get("results") or []  # SPS sends null, not [], for an empty directory
        next_link = (body.get("paging") or {}).get("next") or {}
        files = [r["path"].lstrip("/") for r in results if r.get("type") != "directory"]
        dirs = [r["path"].lstrip("/") for r in results if r.get("type") == "directory"]
        return ListPage(files=files, directories=dirs, next_cursor=next_link.get("cursor") or None)
    except (ValueError, AttributeError, KeyError, TypeError):
        raise TransientError(
            "SPS returned a directory listing we cannot read", system="sps", operation="list",
            status=response.status_code, body_excerpt=excerpt(response.content),
        ) from None


def _history_page(response: httpx.Response) -> HistoryPage:
    try:
        body = response.json() or {}
        entries = []
        for r in body.get("results") or []:
            events = [(str(s["status"]), _utc(str(s["timestamp"])))
                      for s in r.get("status_log") or [] if s.get("status") and s.get("timestamp")]
            entries.append(HistoryEntry(id=str(r.get("id") or ""), path=str(r["path"]).lstrip("/"),
                                        direction=r.get("direction"), events=events))
        paging = body.get("paging") or {}
        return HistoryPage(entries=entries, total=paging.get("total_count"), has_next=bool(paging.get("next")))
    except (ValueError, AttributeError, KeyError, TypeError):
        raise TransientError(
            "SPS returned a history page we cannot read", system="sps", operation="history",
            status=response.status_code, body_excerpt=excerpt(response.content),
        ) from None


def _utc(stamp: str) -> datetime:
    return delivery.aware(datetime.fromisoformat(stamp.replace("Z", "+00:00")))


def check(response: httpx.Response, *, operation: str = "") -> None:
    """Raise the typed error an RFC 7807 problem+json response stands for; pass others.

    The problem's ``title``/``detail`` become the message, ``requestId`` the request id and
    the first ``context[].code`` the code, so an operator reads SPS's own words.
    """
    cls = error_class_for_status(response.status_code)
    if cls is None or "json" not in response.headers.get("content-type", ""):
        return
    try:
        problem = response.json()
    except ValueError:
        return
    if isinstance(problem, dict):
        raise problem_error(response, problem, cls, operation=operation)


def problem_error(
    response: httpx.Response, problem: dict[str, Any], cls: type[IntegrationError], *, operation: str = ""
) -> IntegrationError:
    """The error for one problem+json body (``cls`` comes from the HTTP status)."""
    title = str(problem.get("title") or f"HTTP {response.status_code}")
    detail = problem.get("detail")
    contexts = problem.get("context")
    if not isinstance(contexts, list):
        contexts = []
    code = next((str(c["code"]) for c in contexts if isinstance(c, dict) and c.get("code")), None)
    context = dict(
        system="sps", operation=operation, status=response.status_code, code=code,
        request_id=problem.get("requestId") or response.headers.get("x-request-id"),
        body_excerpt=excerpt(response.content),
    )
    message = excerpt(f"{title}: {detail}" if detail else title, 240)
    if cls is RateLimited:
        return RateLimited(message, retry_after=parse_retry_after(response.headers.get("retry-after")), **context)
    return cls(message, **context)
