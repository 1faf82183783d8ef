"""Sage Intacct XML gateway client: thin endpoint methods over one ``_request``.

``_request`` builds the envelope (:mod:`.codec`), sends it through ``_http.send`` (HTTP retries,
Retry-After, the body classifier as ``check``), and renews a refused session once. Function
controlids are the idempotency keys of writes: they are built once per logical write by the
caller and sent unchanged on every retry, with ``uniqueid=true``, so a retried write that had
already committed comes back as :class:`~ml_connector.connectors.errors.DuplicateWrite`
instead of posting twice. Reads use ``uniqueid=false`` and fresh controlids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx

from .._http import RetryPolicy, build_client, register_secret, send
from ..errors import AuthError, TransientError
from . import codec, functions, functions_parties, functions_so
from ._xml import DATETIME_FORMAT
from .auth import IntacctConfig, Session, SessionCache, session_from_response, shared_sessions
from .codec import SYSTEM, SessionExpired
from .listing import read_listing
from .models import ApBill, ArInvoice, Function, FunctionResult, SoTransaction

log = logging.getLogger("ml_connector.intacct")
T = TypeVar("T")

_IN_LIMIT = 1000  # values per query <in> filter (XSD maxOccurs)
_QUERY_PAGE = 2000  # the largest query page
_READ_KEYS = 100  # RECORDNOs per read function: no documented limit, stay modest
_HEADERS = {"Content-Type": "application/xml", "Accept": "text/xml, application/xml"}


@dataclass(frozen=True)
class ArInvoicePage:
    """One page of AR invoices; ``result_id`` continues the read, None once nothing remains."""

    invoices: list[ArInvoice]
    result_id: str | None
    num_remaining: int


class IntacctClient:
    """One Intacct company through the XML gateway. Pass ``http`` to control transport and
    pooling (tests mount an emulator there); otherwise the client builds and owns one."""

    def __init__(
        self,
        config: IntacctConfig,
        http: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        sessions: SessionCache | None = None,
        *,
        max_functions: int = 100,
        max_pages: int = 10_000,
    ) -> None:
        self.config = config
        # Also registered by the config itself, but a config unpickled in another process
        # (a Prefect worker) skips its post-init hook.
        register_secret(config.sender_password.get_secret_value())
        register_secret(config.user_password.get_secret_value())
        self._owns_http = http is None
        # Requests go to absolute URLs (the session endpoint may be another host), so the
        # client's base is the gateway origin, which is also what _http.mount keys on.
        self._http = http or build_client(_origin(config.endpoint_url), timeout=config.timeout, verify=config.verify)
        self._policy = policy or RetryPolicy()
        self._sessions = sessions or shared_sessions()
        self.max_functions = max_functions
        self.max_pages = max_pages

    # -- plumbing ------------------------------------------------------------------------

    def _post(self, url: str, functions: Sequence[Function], *, operation: str, uniqueid: bool,
              transaction: bool, session: Session | None) -> codec.ParsedResponse:
        """One exchange with retries; the envelope (and its request controlid) is new per attempt."""
        parsed: codec.ParsedResponse | None = None
        auth: dict[str, Any] = {"session_id": session.session_id} if session else {"login": self.config.login()}

        def build() -> httpx.Request:
            body = codec.build_request(
                functions, sender_id=self.config.sender_id,
                sender_password=self.config.sender_password.get_secret_value(),
                control_id=codec.new_controlid("req"), uniqueid=uniqueid, transaction=transaction, **auth)
            return self._http.build_request("POST", url, content=body, headers=_HEADERS)

        def check(response: httpx.Response) -> None:
            nonlocal parsed
            parsed = codec.parse_response(response.content, session_auth=session is not None, operation=operation)

        send(self._http, build, system=SYSTEM, operation=operation, check=check, policy=self._policy)
        assert parsed is not None  # send() returns only after check() passed
        return parsed

    def _open_session(self, entity: str | None = None) -> Session:
        """``getAPISession`` with login authentication, alone in its request (reference §3);
        for ``entity`` it asks for a session in that entity (``<locationid>``)."""
        parsed = self._post(self.config.endpoint_url, [codec.get_api_session_function(entity)],
                            operation="getAPISession", uniqueid=False, transaction=False, session=None)
        session = session_from_response(parsed, self.config, self._sessions)
        if entity and session.location_id not in (None, entity):
            raise AuthError(f"getAPISession for entity {entity!r} returned entity {session.location_id!r}",
                            system=SYSTEM, operation="getAPISession")
        return session

    def _request(self, functions: Sequence[Function], *, uniqueid: bool, transaction: bool,
                 operation: str = "execute", entity: str | None = None) -> list[FunctionResult]:
        """Send ``functions`` in one envelope on the cached session of ``entity`` (None: the
        configured location); results in input order. A refused session is invalidated and
        renewed once: auth failures run no function, so resending the same functions is safe."""
        key = self.config.session_key_for(entity)
        for attempt in (1, 2):
            session = self._sessions.get(key, lambda: self._open_session(entity))
            try:
                parsed = self._post(session.endpoint, functions, operation=operation, uniqueid=uniqueid,
                                    transaction=transaction, session=session)
            except SessionExpired:
                self._sessions.invalidate(key, session.session_id)
                if attempt == 2:
                    raise
                log.info("intacct %s: session refused, renewing it", operation)
                continue
            self._sessions.observe(key, session.session_id, parsed)
            return _in_order(functions, parsed.results, operation)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, function: Function, operation: str, entity: str | None = None) -> FunctionResult:
        """One read function; its failure is raised, since a read has no document to isolate."""
        [result] = self._request([function], uniqueid=False, transaction=False, operation=operation, entity=entity)
        if result.error is not None:
            raise result.error
        return result

    # -- endpoints -----------------------------------------------------------------------

    def execute(self, functions: Sequence[Function], *, uniqueid: bool = True,
                transaction: bool = False, entity: str | None = None) -> list[FunctionResult]:
        """Run ``functions`` in one request; one result per function, in input order."""
        return self._request(functions, uniqueid=uniqueid, transaction=transaction, entity=entity)

    def post_functions(self, functions: Sequence[Function], *, entity: str | None = None,
                       operation: str = "write") -> list[FunctionResult]:
        """Run write functions, ``max_functions`` per request as independent functions
        (``uniqueid=true``, ``transaction=false``): one bad document fails alone, and the result
        of each function (matched by controlid, its idempotency key) comes back in input order.
        If a request fails outright, the error is raised; functions of earlier requests are
        committed and report ``DuplicateWrite`` when the call is retried. ``entity`` runs them in
        that entity's session (multi-entity companies)."""
        results: list[FunctionResult] = []
        for chunk in _chunks(functions, self.max_functions):
            results.extend(self._request(chunk, uniqueid=True, transaction=False, operation=operation, entity=entity))
        return results

    def create_bills(self, items: Sequence[tuple[str, ApBill]], *, entity: str | None = None) -> list[FunctionResult]:
        """Create AP bills through :meth:`post_functions`; ``items`` pairs each bill with its
        controlid (idempotency key)."""
        functions = [codec.bill_function(controlid, bill) for controlid, bill in items]
        return self.post_functions(functions, entity=entity, operation="create_bills")

    def update_bills(self, items: Sequence[tuple[str, str, ApBill]], *, entity: str | None = None) -> list[FunctionResult]:
        """Update AP bills through :meth:`post_functions`; ``items`` are (controlid, RECORDNO, the
        bill as it must now be: header and every line)."""
        calls = [functions.bill_update_function(cid, recordno, bill) for cid, recordno, bill in items]
        return self.post_functions(calls, entity=entity, operation="update_bills")

    def delete_bills(self, items: Sequence[tuple[str, str]], *, entity: str | None = None) -> list[FunctionResult]:
        """Delete AP bills (controlid, RECORDNO) through :meth:`post_functions`."""
        calls = [functions.delete_function(cid, "APBILL", recordno) for cid, recordno in items]
        return self.post_functions(calls, entity=entity, operation="delete_bills")

    def reverse_bills(self, items: Sequence[tuple[str, str, date]], *, description: str | None = None,
                      entity: str | None = None) -> list[FunctionResult]:
        """Reverse AP bills (controlid, RECORDNO, date of the reversing entry) through
        :meth:`post_functions`."""
        calls = [functions.reverse_bill_function(cid, recordno, on, description)
                 for cid, recordno, on in items]
        return self.post_functions(calls, entity=entity, operation="reverse_bills")

    def create_sotransactions(self, items: Sequence[tuple[str, SoTransaction]], *,
                              entity: str | None = None) -> list[FunctionResult]:
        """Create Order Entry transactions (controlid, transaction) through :meth:`post_functions`."""
        calls = [functions_so.sotransaction_function(cid, so) for cid, so in items]
        return self.post_functions(calls, entity=entity, operation="create_sotransactions")

    def find_sotransactions(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """DOCID -> RECORDNO of existing Order Entry transactions (settling a lost create)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(doc_ids)), _IN_LIMIT):
            for record in self._query_all("SODOCUMENT", ("RECORDNO", "DOCID"), ("in", "DOCID", chunk)):
                found.setdefault(record["DOCID"], record["RECORDNO"])
        return found

    def bill_states(self, recordnos: Sequence[str]) -> dict[str, dict]:
        """RECORDNO -> the bill's state as a revision needs it (STATE, TOTALPAID, WHENCREATED,
        WHENPOSTED, WHENMODIFIED, TRX_TOTALENTERED); bills that do not exist are absent."""
        found: dict[str, dict] = {}
        fields = ("RECORDNO", "RECORDID", "VENDORID", "STATE", "TOTALPAID", "WHENCREATED", "WHENPOSTED",
                  "WHENMODIFIED", "TRX_TOTALENTERED")
        for chunk in _chunks(list(dict.fromkeys(recordnos)), _IN_LIMIT):
            for record in self._query_all("APBILL", fields, ("in", "RECORDNO", chunk)):
                found[record["RECORDNO"]] = record
        return found

    # -- lookups (Adobe Commerce flows: match parties, find the invoice a payment pays) -----

    def find_vendors(self, by: str, value: str, *, entity: str | None = None) -> list[dict]:
        """Vendors whose ``by`` (``"id"``, ``"email"`` or a custom field name) equals ``value``,
        oldest first; [] when none."""
        return self._read(functions_parties.vendor_lookup_function(by, value), "query", entity).records

    def find_customers(self, by: str, value: str, *, entity: str | None = None) -> list[dict]:
        """Customers whose ``by`` (``"id"``, ``"email"`` or a custom field name) equals ``value``."""
        return self._read(functions_parties.customer_lookup_function(by, value), "query", entity).records

    def find_ar_invoices(self, invoice_nos: Sequence[str], *, entity: str | None = None) -> dict[str, str]:
        """RECORDID (invoice number) -> RECORDNO of existing AR invoices: the key a payment is
        applied to, and how a write with an unknown outcome is settled. The oldest one wins."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(invoice_nos)), _IN_LIMIT):
            for record in self._query_all("ARINVOICE", ("RECORDNO", "RECORDID"), ("in", "RECORDID", chunk), entity):
                found.setdefault(record["RECORDID"], record["RECORDNO"])
        return found

    def find_bills(self, record_ids: Sequence[str], vendor_id: str | None = None) -> dict[str, str]:
        """RECORDID -> RECORDNO of existing bills, to settle a write whose outcome is unknown.
        Missing ids are absent; if several bills share a RECORDID the oldest one wins."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(record_ids)), _IN_LIMIT):
            condition: tuple = ("in", "RECORDID", chunk)
            if vendor_id is not None:
                condition = ("and", condition, ("equalto", "VENDORID", vendor_id))
            for record in self._query_all("APBILL", ("RECORDNO", "RECORDID"), condition):
                if found.setdefault(record["RECORDID"], record["RECORDNO"]) != record["RECORDNO"]:
                    log.warning("intacct: several bills have RECORDID %s; using RECORDNO %s",
                                record["RECORDID"], found[record["RECORDID"]])
        return found

    def list_bills(self, vendor_ids: Sequence[str]) -> list[dict]:
        """Every bill of these vendors as {RECORDNO, RECORDID, VENDORID} (reconciliation)."""
        bills: list[dict] = []
        for chunk in _chunks(list(dict.fromkeys(vendor_ids)), _IN_LIMIT):
            bills.extend(self._query_all("APBILL", ("RECORDNO", "RECORDID", "VENDORID"), ("in", "VENDORID", chunk)))
        return bills

    # -- generic reads (Intacct -> Sterling: vendors, AP bills, purchase orders) ------------

    def read_by_query(self, object_name: str, query: str = "", *, page_size: int = 1000) -> FunctionResult:
        """The first page of a ``readByQuery`` (headers only); continue with :meth:`read_more`."""
        return self._read(codec.read_by_query_function(object_name, query, page_size=page_size), "readByQuery")

    def read_more(self, result_id: str) -> FunctionResult:
        """The next page of the readByQuery that returned ``result_id``."""
        return self._read(codec.read_more_function(result_id), "readMore")

    def read_full(self, object_name: str, keys: Sequence[str]) -> list[dict]:
        """Records by RECORDNO with their owned line items (``read``), in one request."""
        functions = [codec.read_function(object_name, chunk) for chunk in _chunks(list(keys), _READ_KEYS)]
        records: list[dict] = []
        for result in self._request(functions, uniqueid=False, transaction=False, operation="read") if functions else []:
            if result.error is not None:
                raise result.error
            records.extend(result.records)
        return records

    def list_vendors(self, modified_since: datetime | None = None) -> list[dict]:
        """Every vendor (modified since ``modified_since``), as Intacct renders it."""
        query = f"WHENMODIFIED >= {codec.quote(_stamp(modified_since))}" if modified_since else ""
        page = self.read_by_query("VENDOR", query)
        vendors = list(page.records)
        for _ in range(self.max_pages):
            if not page.num_remaining or not page.result_id:
                return vendors
            page = self.read_more(page.result_id)
            vendors.extend(page.records)
        raise TransientError("VENDOR readMore exceeded max_pages", system=SYSTEM, operation="readMore")

    def _query_all(self, object_name: str, fields: Sequence[str], condition: tuple,
                   entity: str | None = None) -> Iterator[dict]:
        """Every record of a ``query``, paged by offset (each page is a new query, so order by
        RECORDNO to keep pages stable)."""
        offset = 0
        for _ in range(self.max_pages):
            function = codec.query_function(object_name, fields, condition, [("RECORDNO", "ascending")],
                                            pagesize=_QUERY_PAGE, offset=offset, show_private=True)
            result = self._read(function, "query", entity)
            yield from result.records
            if not result.num_remaining or not result.records:
                return
            offset += len(result.records)
        raise TransientError(f"query of {object_name} exceeded {self.max_pages} pages",
                             system=SYSTEM, operation="query")

    def read_ar_invoices(self, modified_since: datetime, until: datetime | None = None,
                         page_size: int = 1000, *, include_lines: bool = True) -> ArInvoicePage:
        """The first page of AR invoices modified in ``[modified_since, until)`` (readByQuery).

        readByQuery returns invoice headers only, so ``include_lines`` adds one ``read``
        request per page for the line items.
        """
        query = f"WHENMODIFIED >= {codec.quote(_stamp(modified_since))}"
        if until is not None:
            query += f" AND WHENMODIFIED < {codec.quote(_stamp(until))}"
        result = self._read(codec.read_by_query_function("ARINVOICE", query, page_size=page_size), "readByQuery")
        return self._ar_page(result, include_lines)

    def read_more_ar_invoices(self, result_id: str, *, include_lines: bool = True) -> ArInvoicePage:
        """The next page of the readByQuery that returned ``result_id`` (readMore)."""
        result = self._read(codec.read_more_function(result_id), "readMore")
        return self._ar_page(result, include_lines)

    def iter_ar_invoices(self, modified_since: datetime, until: datetime | None = None,
                         page_size: int = 1000, *, include_lines: bool = True) -> Iterator[list[ArInvoice]]:
        """AR invoices modified in ``[modified_since, until)``, one list per page, following
        readMore until ``numremaining`` is 0. Guards (:mod:`.listing`): each page must follow
        from the previous one, so rows skipped by a resent readMore, or a cursor that stalls or
        loops, raise ListingGap (a TransientError: read again) instead of passing unnoticed; at
        most ``max_pages`` pages are read. Pages already yielded are not yielded again."""
        def read(result_id: str | None) -> ArInvoicePage:
            if result_id is None:
                return self.read_ar_invoices(modified_since, until, page_size, include_lines=include_lines)
            return self.read_more_ar_invoices(result_id, include_lines=include_lines)

        for page in read_listing(read, lambda p: len(p.invoices), what="ARINVOICE listing", restarts=0,
                                 max_pages=self.max_pages, logger=log):
            if page.invoices:
                yield page.invoices

    def _ar_page(self, result: FunctionResult, include_lines: bool) -> ArInvoicePage:
        remaining = result.num_remaining or 0
        invoices = self._invoices(result.records, include_lines) if result.records else []
        return ArInvoicePage(invoices, result.result_id if remaining else None, remaining)

    def _invoices(self, records: list[dict], include_lines: bool) -> list[ArInvoice]:
        lines: dict[str, list[dict]] = {}
        if include_lines:
            keys = [r["RECORDNO"] for r in records if r.get("RECORDNO")]
            functions = [codec.read_function("ARINVOICE", chunk) for chunk in _chunks(keys, _READ_KEYS)]
            for result in self._request(functions, uniqueid=False, transaction=False, operation="read"):
                if result.error is not None:
                    raise result.error
                for full in result.records:
                    items = full.get("ARINVOICEITEMS")
                    lines[full.get("RECORDNO", "")] = items if isinstance(items, list) else []
        return [codec.ar_invoice_from_record(r, lines.get(r.get("RECORDNO", ""), ())) for r in records]

    def ping(self) -> str:
        """Sign in afresh (sender and user credentials, not a cached session) and return the
        session endpoint; raises ``AuthError`` when Intacct refuses the credentials."""
        return self._open_session().endpoint

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client if this client built it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> IntacctClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _in_order(functions: Sequence[Function], results: list[FunctionResult], operation: str) -> list[FunctionResult]:
    # A function without a result has an unknown outcome: transient, and safe to resend under
    # its own controlid.
    by_id = {r.controlid: r for r in results}
    missing = TransientError("Intacct returned no result for this function", system=SYSTEM, operation=operation)
    return [by_id.get(f.controlid) or FunctionResult(controlid=f.controlid, function=operation, ok=False, error=missing)
            for f in functions]


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _stamp(moment: datetime) -> str:
    """Intacct timestamps carry no zone (reference §6.2): naive times are sent as they are,
    aware ones as UTC wall time (the sandbox's zone; set the company to UTC to match)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime(DATETIME_FORMAT)


def _origin(url: str) -> str:
    parts = httpx.URL(url)
    return str(parts.copy_with(path="/", query=None, fragment=None)).rstrip("/")
