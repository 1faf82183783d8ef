"""Sage Intacct XML gateway emulator, after the checklist of reference §9.

One POST-only endpoint, ``/ia/xml/xmlgw.phtml``, XML in and XML out, HTTP 200 for control,
authentication and function failures. What it does:

* parses with the same hardened parser as the client; malformed XML, forbidden characters, a
  DOCTYPE, or a schema violation (:mod:`.schema`) is a control-level ``XL03000003``;
* checks sender credentials (control ``XL03000006``) and login credentials or the session
  (authentication ``XL03000006``); sessions slide by ``session_ttl`` seconds on every call;
* ``getAPISession`` (alone in its request), generic ``create`` of VENDOR, CUSTOMER, APBILL, ITEM
  and ARPYMT, generic ``update`` of VENDOR, CUSTOMER, ITEM (:mod:`.parties`), the legacy
  functions of :mod:`.ar`, :mod:`.ap_extra` and :mod:`.inventory`
  (registered in :mod:`.legacy`), and ``readByQuery``/``readMore``, ``query`` and
  ``read`` on every object they hold;
* multi-entity: a ``locationid`` at login or in ``getAPISession`` scopes the session to an
  entity; records carry the entity that created them (``MEGAENTITYID``, "" = top level) and an
  entity session reads only its own records plus shared master data;
* ``transaction="true"`` rolls the operation back (``aborted`` + ``XL03000009``);
* ``uniqueid=true`` refuses a function controlid that already completed for the company.

What is synthetic or inferred, because the reference could not verify it: the duplicate-
controlid failure (errorno :data:`DUPLICATE_CONTROLID`, configurable), the text of the
expired-session failure, and the wording of business errors; readByQuery returning headers
only while ``read`` adds ``<ARINVOICEITEMS><arinvoiceitem>`` rows; a resultId living until it is
read to the end (the least recently used beyond ``max_cursors`` are dropped). A ``create`` with
several objects is all-or-nothing here; the real gateway may keep the objects processed before
a failure. Timestamps are UTC wall time, and ``query`` without ``orderby`` keeps RECORDNO order
(the real order is undefined). Entity visibility ignores private-entity and sharing settings, and
an unknown ``locationid`` at login is an authentication ``XL03000006`` (wording inferred). Each
module of the new functions lists its own inferences in its docstring.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from lxml import etree

from ...connectors.intacct._xml import DATETIME_FORMAT, XMLRefused, parse, sub, sub_fields, text, to_bytes
from ..base import Emulator, FaultPlan
from . import (  # noqa: F401  register legacy functions
    ap_extra,
    ar,
    ar_revisions,
    bills,
    inventory,
    po,  # registers PODOCUMENT (purchase orders) with the store
    so,  # registers SODOCUMENT (Order Entry sales orders) and create_sotransaction
)
from .inventory import DEFAULT_IC_DEFINITIONS
from .legacy import LEGACY
from .legacy import run as run_legacy
from .parties import update
from .reads import Reads
from .schema import SchemaError, check_request
from .store import DIMENSIONS, ID_FIELD, FunctionFailure, Store, ar_invoice_row, naive_utc
from .views import CommerceViews

PATH = "/ia/xml/xmlgw.phtml"
CONTENT_TYPE = 'text/xml; encoding="UTF-8";charset=UTF-8'
DUPLICATE_CONTROLID = "DUPLICATE_CONTROLID"
ROLLED_BACK = ("XL03000009", "", "The entire transaction in this operation has been rolled back due to an error.", "")


@dataclass
class _Session:
    company_id: str
    user_id: str
    location_id: str
    expires: float


@dataclass
class _Call:
    """What one function runs with."""

    company_id: str
    user_id: str
    location_id: str
    controlid: str = ""
    alone: bool = False
    undo: list = field(default_factory=list)  # (object, RECORDNO) or a callable


class IntacctEmulator(CommerceViews, Emulator):
    """A stateful Intacct company behind the XML gateway. Thread-safe through ``self.lock``."""

    system = "intacct"

    def __init__(
        self,
        faults: FaultPlan | None = None,
        *,
        sender_id: str = "ml-sandbox",
        sender_password: str = "sandbox-sender-secret",
        company_id: str = "ML-SANDBOX",
        user_id: str = "ws-ml",
        user_password: str = "sandbox-user-secret",
        session_ttl: float = 3600.0,
        duplicate_errorno: str = DUPLICATE_CONTROLID,
        clock: Callable[[], float] = time.time,
        max_cursors: int = 100,
        allow_negative_inventory: bool = False,
    ) -> None:
        super().__init__(faults)
        self.sender_id, self.sender_password = sender_id, sender_password
        self.company_id, self.user_id, self.user_password = company_id, user_id, user_password
        self.session_ttl = session_ttl
        self.duplicate_errorno = duplicate_errorno
        self.clock = clock
        self.store = Store()
        self.store.ic_definitions.update(DEFAULT_IC_DEFINITIONS)
        self.store.allow_negative_inventory = allow_negative_inventory
        self.reads = Reads(self.store, max_cursors)
        self._sessions: dict[str, _Session] = {}
        self._completed: set[tuple[str, str]] = set()
        self._support = 0

    @property
    def endpoint_url(self) -> str:
        """The gateway URL, on whatever base URL the sandbox is served (in-process or uvicorn)."""
        return f"{self.base_url}{PATH}"

    # -- HTTP ----------------------------------------------------------------------------

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != PATH:
            return httpx.Response(404, text="Not Found")
        if request.method != "POST":
            return httpx.Response(405, headers={"Allow": "POST"}, text="Method Not Allowed")
        try:
            root = parse(request.content)
            check_request(root)
        except (XMLRefused, SchemaError) as exc:
            return self._reply(self._control_failure(None, "XL03000003", f"XML Parse schema error: {exc}"))
        control = root.find("control")
        if (text(control, "senderid"), text(control, "password")) != (self.sender_id, self.sender_password):
            failure = self._control_failure(control, "XL03000006", "Incorrect Intacct XML Partner ID or password.")
            return self._reply(failure)
        response = self._envelope(control, "success")
        uniqueid = text(control, "uniqueid", "true") == "true"  # documented default: true
        operations = root.findall("operation")
        alone = len(operations) == 1 and len(operations[0].findall("content/function")) == 1
        for operation in operations:
            response.append(self._operation(operation, uniqueid, alone))
        return self._reply(response)

    def is_write(self, request: httpx.Request) -> bool:
        """Whether the request holds a create/update/delete function (a lost response matters)."""
        try:
            root = parse(request.content)
        except XMLRefused:
            return False
        tags = [b.tag for b in root.iterfind("operation/content/function/*") if isinstance(b.tag, str)]
        return any(t in ("create", "update", "delete") or t.startswith(("create_", "update_", "delete_", "reverse_"))
                   for t in tags)

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response:
        """A 429 carries the gateway's ``GW-0010`` body, as Intacct sends it."""
        if kind != "429":
            return super().fault_response(kind, request)
        root = etree.Element("response")
        sub(sub(root, "control"), "status", "failure")
        root.append(self._errors([("GW-0010", "Rate limit exceeded. Please slow down and retry.", "", "")]))
        headers = {"Retry-After": str(self.faults.retry_after), "Content-Type": CONTENT_TYPE}
        return httpx.Response(429, headers=headers, content=to_bytes(root, declaration=True))

    def _reply(self, root: etree._Element) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": CONTENT_TYPE}, content=to_bytes(root, declaration=True))

    def _envelope(self, control: etree._Element | None, status: str) -> etree._Element:
        root = etree.Element("response")
        out = sub(root, "control")
        sub(out, "status", status)
        if control is not None:  # echo what the request said, as the gateway does
            for name in ("senderid", "controlid", "uniqueid", "dtdversion"):
                sub(out, name, text(control, name))
        return root

    def _control_failure(self, control: etree._Element | None, errorno: str, description2: str) -> etree._Element:
        root = self._envelope(control, "failure")
        root.append(self._errors([(errorno, "", description2, "")]))
        return root

    def _errors(self, errors: Iterable[tuple[str, str, str, str]]) -> etree._Element:
        element = etree.Element("errormessage")
        for errorno, description, description2, correction in errors:
            if description2 and errorno != ROLLED_BACK[0]:
                self._support += 1
                description2 = f"{description2} [Support ID: sandbox%7E{self._support:06d}]"
            sub_fields(sub(element, "error"), [("errorno", errorno), ("description", description),
                                               ("description2", description2), ("correction", correction)])
        return element

    # -- operations ----------------------------------------------------------------------

    def _operation(self, operation: etree._Element, uniqueid: bool, alone: bool) -> etree._Element:
        out = etree.Element("operation")
        call, expires, failure = self._authenticate(operation.find("authentication"))
        auth = sub(out, "authentication")
        sub_fields(auth, [("status", "failure" if failure else "success"), ("userid", call.user_id),
                          ("companyid", call.company_id)])
        if failure:
            out.append(self._errors([failure]))
            return out
        sub_fields(auth, [("locationid", call.location_id), ("sessiontimestamp", self._iso(self.clock())),
                          ("sessiontimeout", self._iso(expires))])
        call.alone = alone
        transaction = operation.get("transaction") == "true"
        out.extend(self._run(operation.findall("content/function"), call, uniqueid, transaction))
        return out

    def _authenticate(self, auth: etree._Element) -> tuple[_Call, float, tuple | None]:
        now, login = self.clock(), auth.find("login")
        if login is not None:
            call = _Call(text(login, "companyid"), text(login, "userid"), text(login, "locationid"))
            given = (call.user_id, call.company_id, text(login, "password"))
            if given != (self.user_id, self.company_id, self.user_password):
                return call, now, ("XL03000006", "", "Sign-in information is incorrect", "")
            if call.location_id and call.location_id not in self.store.entities:
                return call, now, ("XL03000006", "Invalid entity", f"Entity '{call.location_id}' does not exist.", "")
            return call, now + self.session_ttl, None
        session = self._sessions.get(text(auth, "sessionid"))
        if session is None or session.expires <= now:
            failure = ("XL03000006", "Invalid session", "The session is invalid or has expired.",
                       "Get a new session with getAPISession.")
            return _Call("", "", ""), now, failure
        session.expires = now + self.session_ttl  # sliding expiry
        return _Call(session.company_id, session.user_id, session.location_id), session.expires, None

    def _run(self, functions: list[etree._Element], call: _Call, uniqueid: bool,
             transaction: bool) -> list[etree._Element]:
        """Run functions in order. Outcomes are (tag, controlid, data, errors, status)."""
        outcomes: list[tuple] = []
        done: set[tuple[str, str]] = set()  # completed here, kept only if nothing rolls back
        for index, function in enumerate(functions):
            body = next(child for child in function if isinstance(child.tag, str))
            call.controlid = function.get("controlid", "")
            key = (call.company_id, call.controlid)
            try:
                if uniqueid and (key in self._completed or key in done):
                    raise self._duplicate(call.controlid)
                outcomes.append((body.tag, call.controlid, self._call(body, call), [], "success"))
                done.add(key)
            except FunctionFailure as failure:
                empty = etree.Element("data", listtype="objects", count="0") if body.tag == "create" else None
                outcomes.append((body.tag, call.controlid, empty, failure.errors, "failure"))
                if transaction:
                    return self._roll_back(outcomes, call, functions[index + 1:])
        self._completed.update(done)
        return [self._result(*o) for o in outcomes]

    def _duplicate(self, controlid: str) -> FunctionFailure:
        return FunctionFailure(
            f"A function with controlid '{controlid}' was already executed and completed (uniqueid=true).",
            errorno=self.duplicate_errorno, description="Duplicate function controlid",
            correction="Use a new controlid to run it again, or treat the earlier run as the result.")

    def _roll_back(self, outcomes: list[tuple], call: _Call, skipped: list[etree._Element]) -> list[etree._Element]:
        for entry in reversed(call.undo):  # (object, RECORDNO) created, or a function restoring an update
            if callable(entry):
                entry()
            else:
                self.store.remove(*entry)
        call.undo.clear()
        results = []
        for tag, controlid, _data, errors, status in outcomes:
            if status == "success":
                results.append(self._result(tag, controlid, None, [ROLLED_BACK], "aborted"))
            else:
                results.append(self._result(tag, controlid, None, errors + [ROLLED_BACK], "failure"))
        for function in skipped:
            body = next(child for child in function if isinstance(child.tag, str))
            results.append(self._result(body.tag, function.get("controlid", ""), None, [ROLLED_BACK], "aborted"))
        return results

    def _result(self, tag: str, controlid: str, data, errors: list, status: str) -> etree._Element:
        result = etree.Element("result")
        sub_fields(result, [("status", status), ("function", tag), ("controlid", controlid)])
        if data is not None:
            result.append(data)
        if errors:
            result.append(self._errors(errors))
        return result

    def _call(self, body: etree._Element, call: _Call) -> etree._Element:
        if body.tag == "create":
            return self._create(body, call)
        if body.tag == "update":
            objects = [child for child in body if isinstance(child.tag, str)]
            if len(objects) == 1 and objects[0].tag == "APBILL":
                return bills.update_bill(self, objects[0], call)
            return update(self, body, call)
        if body.tag == "delete":
            return bills.delete(self, body, call)
        if body.tag in LEGACY:
            return run_legacy(self, body, call)
        if body.tag == "getAPISession":
            return self._get_api_session(body, call)
        reads = {"readByQuery": self.reads.read_by_query, "readMore": self.reads.read_more,
                 "query": self.reads.query, "read": self.reads.read}
        if body.tag not in reads:
            raise FunctionFailure(f"The sandbox does not implement {body.tag}.", description="Unsupported function")
        return reads[body.tag](body, entity=call.location_id)

    # -- functions -----------------------------------------------------------------------

    def _get_api_session(self, body: etree._Element, call: _Call) -> etree._Element:
        if not call.alone:
            raise FunctionFailure("getAPISession must be the only function in its request.",
                                  description="Invalid request")
        location = text(body, "locationid") if body.find("locationid") is not None else call.location_id
        if location and location not in self.store.entities:
            raise FunctionFailure(f"Entity '{location}' does not exist.", description="Invalid entity",
                                  correction="Use the LOCATIONID of an entity, or none for the top level.")
        now = self.clock()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
        session_id = secrets.token_urlsafe(24)
        self._sessions[session_id] = _Session(call.company_id, call.user_id, location, now + self.session_ttl)
        data = etree.Element("data")
        sub_fields(sub(data, "api"), [("sessionid", session_id), ("endpoint", self.endpoint_url),
                                      ("locationid", location)])
        return data

    def _create(self, body: etree._Element, call: _Call) -> etree._Element:
        objects = [child for child in body if isinstance(child.tag, str)]
        if not objects:
            raise FunctionFailure("create needs at least one object.")
        created: list[tuple[str, str, str]] = []
        try:
            for element in objects:
                created.append(self.store.create(element, self._now(), call.controlid, call.location_id))
        except FunctionFailure:
            for object_name, recordno, _ in created:
                self.store.remove(object_name, recordno)
            raise
        call.undo.extend((object_name, recordno) for object_name, recordno, _ in created)
        data = etree.Element("data", listtype="objects", count=str(len(created)))
        for object_name, recordno, ident in created:
            id_field = ID_FIELD[object_name]  # a payment has no ID of its own: RECORDNO only
            sub_fields(sub(data, object_name.lower()), [("RECORDNO", recordno)] + (
                [(id_field, ident)] if id_field != "RECORDNO" else []))
        return data

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).replace(tzinfo=None)

    @staticmethod
    def _iso(moment: float) -> str:
        return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")

    # -- seeding and inspection (tests, the demo) -----------------------------------------

    def credentials(self) -> dict:
        """What a client needs to sign in to this sandbox."""
        return {"sender_id": self.sender_id, "sender_password": self.sender_password,
                "company_id": self.company_id, "user_id": self.user_id,
                "user_password": self.user_password, "endpoint_url": self.endpoint_url}

    def expire_sessions(self) -> None:
        """Expire every session now, as if each had sat idle past ``session_ttl``."""
        with self.lock:
            for session in self._sessions.values():
                session.expires = float("-inf")

    def add_vendor(self, vendor_id: str, name: str, *, email: str | None = None, entity: str = "") -> str:
        """Add a vendor; returns its RECORDNO. Adding an existing VENDORID is a no-op."""
        return self._add_party("VENDOR", vendor_id, name, email, entity)

    def add_customer(self, customer_id: str, name: str, *, email: str | None = None, entity: str = "") -> str:
        """Add a customer; returns its RECORDNO. Adding an existing CUSTOMERID is a no-op.
        ``email`` is DISPLAYCONTACT.EMAIL1; ``entity`` owns it ("" = top level, shared)."""
        return self._add_party("CUSTOMER", customer_id, name, email, entity)

    def _add_party(self, object_name: str, ident: str, name: str, email: str | None, entity: str) -> str:
        with self.lock:
            existing = self.store.find(object_name, ident)
            if existing is not None:
                return existing["RECORDNO"]
            return self.store.insert(object_name, {ID_FIELD[object_name]: ident, "NAME": name, "STATUS": "active",
                                                   "DISPLAYCONTACT.EMAIL1": email, "MEGAENTITYID": entity,
                                                   "WHENCREATED": self._now().date(), "WHENMODIFIED": self._now()})

    def add_gl_account(self, account_no: str) -> None:
        """Make ``account_no`` a valid ACCOUNTNO for bill lines."""
        with self.lock:
            self.store.gl_accounts.add(str(account_no))

    def add_dimension(self, kind: str, dimension_id: str) -> None:
        """Add a department, location or class; once a kind has values, bill lines are checked
        against them."""
        if kind not in DIMENSIONS:
            raise ValueError(f"unknown dimension kind {kind!r} ({', '.join(DIMENSIONS)})")
        with self.lock:
            self.store.dimensions[kind].add(dimension_id)

    def add_ar_invoice(self, record_id: str, customer_id: str, lines: Iterable[Any], when_created: date,
                       when_modified: datetime | None = None, po_number: str | None = None, currency: str = "USD",
                       *, when_due: date | None = None, state: str = "Posted", entity: str = "") -> str:
        """Add a posted AR invoice for an existing customer; returns its RECORDNO.

        ``lines`` are ``ArInvoiceLine`` objects or mappings with ``amount`` (or ``quantity`` and
        ``unit_price``), and optional ``memo``, ``account_no``, ``item_id``. ARINVOICEITEM has
        no quantity field, so quantities are not kept. ``when_modified`` defaults to now;
        ``when_due`` to 30 days after ``when_created``.
        """
        created = when_created.date() if isinstance(when_created, datetime) else when_created
        rows = [ar_invoice_row(line) for line in lines]
        total = format(sum((Decimal(r["TRX_AMOUNT"]) for r in rows), Decimal("0")), "f")
        with self.lock:
            customer = self.store.find("CUSTOMER", customer_id)
            if customer is None:
                raise ValueError(f"unknown customer {customer_id!r}: add_customer first")
            values = {"RECORDID": record_id, "CUSTOMERID": customer_id, "CUSTOMERNAME": customer["NAME"],
                      "STATE": state, "WHENCREATED": created, "WHENDUE": when_due or created + timedelta(days=30),
                      "WHENMODIFIED": naive_utc(when_modified) if when_modified else self._now(),
                      "DOCNUMBER": po_number, "CURRENCY": currency, "TOTALENTERED": total,
                      "TRX_TOTALENTERED": total, "TOTALDUE": total, "TRX_TOTALDUE": total, "TOTALPAID": "0.00",
                      "TRX_TOTALPAID": "0.00", "MEGAENTITYID": entity}
            return self.store.insert("ARINVOICE", values, rows)

    def close_period(self, year: int, month: int) -> None:
        """Close the GL period (calendar month): bills dated in it can no longer be created,
        changed, deleted or reversed."""
        with self.lock:
            self.store.closed_periods.add((year, month))

    def pay_bill(self, record_id: str, amount: Decimal | None = None, *, vendor_id: str | None = None) -> None:
        """Apply a payment of ``amount`` (the whole due by default) to the bill ``record_id``, as
        an AP payment would: TOTALPAID grows, TOTALDUE shrinks, STATE becomes Paid or Partially Paid."""
        with self.lock:
            bill = next(r for r in self.store.records("APBILL")
                        if r["RECORDID"] == record_id and (vendor_id is None or r["VENDORID"] == vendor_id))
            due = Decimal(bill["TOTALDUE"] or "0")
            paid = due if amount is None else Decimal(amount)
            left = due - paid
            total_paid = format(Decimal(bill.get("TOTALPAID") or "0") + paid, "f")
            bill.update(TOTALPAID=total_paid, TRX_TOTALPAID=total_paid, TOTALDUE=format(left, "f"),
                        TRX_TOTALDUE=format(left, "f"), STATE="Paid" if left == 0 else "Partially Paid",
                        WHENMODIFIED=self._now().strftime(DATETIME_FORMAT))

    def bills(self) -> list[dict]:
        """Every APBILL created through the gateway: its fields (text), the function
        ``controlid`` that created it, ``lines`` (TRX_AMOUNT as Decimal) and ``total``."""
        with self.lock:
            out = []
            for record in self.store.records("APBILL"):
                key = ("APBILL", record["RECORDNO"])
                lines = [{**row, "TRX_AMOUNT": Decimal(row["TRX_AMOUNT"]), "AMOUNT": Decimal(row["AMOUNT"])}
                         for row in self.store.items.get(key, [])]
                out.append({**record, "controlid": self.store.controlids.get(key), "lines": lines,
                            "total": Decimal(record["TRX_TOTALENTERED"])})
            return out

    def count_bills_by_record_id(self) -> dict[str, int]:
        """RECORDID -> number of APBILLs with it (anything above 1 is a duplicate post)."""
        with self.lock:
            return self.store.bill_counts()

