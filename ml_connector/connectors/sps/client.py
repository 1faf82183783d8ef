"""SPS Commerce Transaction API v5: list, get, put and delete files under ``/transactions/v5/data``.

SPS calls files "transactions": what partners send us appears under ``out/``, what we send
goes to ``in/``. Every call goes through one :meth:`SpsClient._request`, which uses the shared
retry layer and one classifier for SPS's RFC 7807 problem+json errors.

Downloads are streamed and capped (``max_bytes``): a file larger than the cap is abandoned
after at most the cap plus one network chunk, counted after decompression (so a gzip bomb is
cut off too), and refused with a :class:`BadDocument` whose code is ``file-too-large``.
"""

from __future__ import annotations

import functools
import threading
import uuid
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from .._http import RetryPolicy, build_client, error_class_for_status, excerpt, parse_retry_after, send
from ..errors import BadDocument, IntegrationError, RateLimited, TransientError
from .auth import SpsConfig, SpsTokenAuth

DATA_PATH = "/transactions/v5/data/"
MAX_LIMIT = 1000


class ListPage(BaseModel):
    """One page of a directory listing. Paths carry no leading slash: ``out/PO1.xml``."""

    files: list[str] = []
    directories: list[str] = []
    next_cursor: str | None = None


# A client built here spreads the threads that use it over this many connection pools. One
# httpcore pool holds one lock while it hands out and takes back connections, checking every
# idle connection's socket each time: with 30 downloads in flight on one pool (tasks/io_pool.py,
# over a WAN) threads queued on that lock, and the same run took 25% longer and a third more CPU
# (sandbox, 50 ms per request, 2,000 files) than with the threads spread over 8 pools.
POOL_SHARDS = 8


class SpsClient:
    """Thin client of the v5 Transaction API. Pass ``http`` to share or mock the transport.

    A client built here owns its ``httpx.Client`` (and up to ``POOL_SHARDS`` alike for other
    threads, sharing its auth and so its token) and closes them; a client passed in is used by
    every thread, left open, and gets an :class:`SpsTokenAuth` attached only if it has no auth
    of its own.
    """

    system = "sps"

    def __init__(self, config: SpsConfig, http: httpx.Client | None = None, policy: RetryPolicy | None = None,
                 max_file_bytes: int | None = None) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self.max_file_bytes = max_file_bytes  # the default cap of get(); None reads any size
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

        SPS overwrites an existing path, so a retried upload is naturally idempotent.
        """
        response = self._request("POST", _clean(path), content=content, operation="put")
        try:
            stored = response.json().get("path")
        except (ValueError, AttributeError):
            stored = None
        return str(stored).lstrip("/") if stored else _clean(path)

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
    ) -> httpx.Response:
        url = self.config.base_url.rstrip("/") + DATA_PATH + quote(path, safe="/")
        headers = {"X-Request-ID": str(uuid.uuid4())}  # one id per logical call, reused on retries
        if content is not None:
            headers["Content-Type"] = "application/octet-stream"

        client = self._client()

        def build() -> httpx.Request:
            return client.build_request(method, url, params=params, content=content, headers=headers)

        http = client if max_bytes is None else _CappedReader(client, max_bytes, path)
        return send(
            http, build, system=self.system, operation=operation,  # type: ignore[arg-type]
            check=functools.partial(check, operation=operation), policy=self.policy,
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

    def __enter__(self) -> "SpsClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _CappedReader:
    """Stands in for the ``httpx.Client`` inside ``_http.send`` (which keeps the retries): sends
    with ``stream=True`` and reads the body only up to ``max_bytes``. A timeout or a broken
    connection while reading stays an httpx error, so the retry layer classifies it as usual."""

    def __init__(self, http: httpx.Client, max_bytes: int, path: str) -> None:
        self.http, self.max_bytes, self.path = http, max_bytes, path

    def send(self, request: httpx.Request) -> httpx.Response:
        response = self.http.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large(response, f"declares {int(declared):,} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():  # decoded bytes: a compressed bomb is counted as it inflates
                body += chunk
                if len(body) > self.max_bytes:
                    raise self._too_large(response, f"passed {len(body):,} bytes, reading stopped")
        finally:
            response.close()
        # The body is decoded already: the copy must not claim an encoding or the old length.
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=request,
                              extensions=response.extensions)

    def _too_large(self, response: httpx.Response, what: str) -> BadDocument:
        return BadDocument(f"SPS file {self.path} {what}, over the {self.max_bytes:,} byte limit",
                           system="sps", operation="get", status=response.status_code, code="file-too-large",
                           request_id=response.headers.get("x-request-id"))


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
    contexts = problem.get("context") if isinstance(problem.get("context"), list) else []
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
