"""IBM Sterling B2B Integrator REST client: trading partners, mailboxes, mailbox messages.

Every call goes through one :meth:`SterlingClient._request` (Basic auth, JSON, the shared
retry layer, one classifier for Sterling's ``{errorCode, errorDescription}`` bodies).

Conventions this client relies on (reference §C.3, C.4, C.7):
- lists are bare JSON arrays paged with ``_range``; an empty list is a 404 error object;
- creates answer ``{"Location": ".../<resource>/<id>"}`` (200 or 201), updates and deletes
  ``{"rowsAffected": n}``;
- a message is uploaded in two steps, a ``documents`` payload then a ``mailboxmessages`` row
  that points at it; its content is read back from ``documents/{documentId}`` ([U], §C.7);
- messages in a mailbox are listed with ``mailboxcontents?parentMailboxId=<id>&detail=true``.

Partner mailboxes follow the SFG layout the sandbox uses: ``/<partner>/Inbox`` holds what the
partner receives (our 810/850), ``/<partner>/Outbox`` what the partner sends us (its 997s).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import logging
import threading
from typing import Any

import httpx
from pydantic import SecretStr

from .._http import RetryPolicy, build_client, excerpt, register_secret, send
from ..errors import AuthError, BadDocument, DuplicateWrite, IntegrationError, NotFound, RejectedError, TransientError
from ._wire import SYSTEM, check, location_id, parse, read_json, required, rows_affected, seg, sterling_error, truthy
from .auth import BUILTIN_ADMIN_USERS, SterlingConfig, admin_reason, basic_auth
from .models import (
    PARTNER_CREATE_REQUIRED,
    PARTNER_UPDATE_REQUIRED,
    Mailbox,
    MailboxEntry,
    MailboxMessage,
    TradingPartner,
    UserAccount,
)
from .pagination import DEFAULT_PAGE_SIZE, RangePaginator, range_param

log = logging.getLogger("ml_connector.sterling")

INBOX, OUTBOX = "Inbox", "Outbox"


def partner_inbox(partner_name: str) -> str:
    """The mailbox a partner receives from (where we deliver its 810/850)."""
    return f"/{partner_name}/{INBOX}"


def partner_outbox(partner_name: str) -> str:
    """The mailbox a partner sends to us from (where its 997s arrive)."""
    return f"/{partner_name}/{OUTBOX}"


class SterlingClient:
    """Thin client of the B2B REST APIs. Pass ``http`` to share or mock the transport.

    A client built here owns its ``httpx.Client`` and closes it; one passed in is left open,
    and gets Basic auth attached only if it has no auth of its own. Before its first call the
    client checks, once, that the account is not an administrator (:meth:`check_not_admin`).
    """

    system = SYSTEM

    def __init__(self, config: SterlingConfig, http: httpx.Client | None = None, policy: RetryPolicy | None = None) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self._owns_http = http is None
        if http is None:
            http = build_client(config.base_url, timeout=config.timeout, verify=config.verify, auth=basic_auth(config))
        elif http.auth is None:
            http.auth = basic_auth(config)
        self.http = http
        self._admin_lock = threading.Lock()
        self._admin_checked = False

    def __repr__(self) -> str:
        return f"SterlingClient(base_url={self.config.base_url!r}, username={self.config.username!r})"

    # -- trading partners ---------------------------------------------------------------

    def partners_page(self, start: int, size: int, *, search: str | None = None) -> list[TradingPartner]:
        """Rows ``start .. start+size-1`` of the partner list (``search``: SQL-style ``%``/``_``)."""
        params = {"searchFor": search} if search else None
        rows = self._list_rows("/tradingpartners/", start, size, params=params, operation="list_partners")
        return [parse(TradingPartner, row, "list_partners") for row in rows]

    def iter_trading_partners(
        self, search: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = 1000
    ) -> RangePaginator[TradingPartner]:
        """Every partner (matching ``search``), page by page; check ``truncated`` afterwards."""
        return RangePaginator(lambda start, size: self.partners_page(start, size, search=search),
                              page_size=page_size, max_pages=max_pages, key=lambda p: p.id or p.partner_name,
                              what="list_partners")

    def list_trading_partners(self, search: str | None = None, *,
                              page_size: int = DEFAULT_PAGE_SIZE) -> list[TradingPartner]:
        """Every partner (matching ``search``) as one list."""
        return list(self.iter_trading_partners(search, page_size=page_size))

    def get_trading_partner(self, partner_id: str) -> TradingPartner:
        """One partner by its id (the partner name, as Sterling keys them); NotFound if absent."""
        response = self._request("GET", f"/tradingpartners/{seg(partner_id)}", operation="get_partner")
        return parse(TradingPartner, read_json(response, "get_partner"), "get_partner")

    def find_trading_partner(self, partner_name: str) -> TradingPartner | None:
        """The partner named exactly ``partner_name``, or None (``searchFor`` alone also matches
        wildcards such as ``_``, so results are filtered here)."""
        return next((p for p in self.iter_trading_partners(partner_name) if p.partner_name == partner_name), None)

    def create_trading_partner(self, partner: TradingPartner, *, password: SecretStr | str | None = None) -> str:
        """Create ``partner``; returns its id. A Local partner needs ``password`` (6-128 chars).

        Raises :class:`DuplicateWrite` when the partner already exists, which is also what a
        retried create whose first response was lost sees: the partner is there either way.
        """
        body = required(partner.wire(), PARTNER_CREATE_REQUIRED, "create a trading partner")
        secret = password.get_secret_value() if isinstance(password, SecretStr) else password
        if secret:
            register_secret(secret)
            body["password"] = secret
        elif body.get("authenticationType") == "Local":
            raise ValueError("a Local trading partner needs a password")
        try:
            response = self._request("POST", "/tradingpartners/", body=body, operation="create_partner")
        except RejectedError as exc:
            if exc.status == 409 or "already exist" in exc.message.lower():
                raise DuplicateWrite(f"trading partner {partner.partner_name!r} already exists", **exc._context()) from None
            raise
        return location_id(response, "create_partner") or partner.partner_name

    def update_trading_partner(self, partner_id: str, partner: TradingPartner) -> None:
        """Replace ``partner_id``'s settings (name and username cannot change on update)."""
        body = required(partner.wire(exclude={"partner_name", "username"}), PARTNER_UPDATE_REQUIRED,
                         "update a trading partner")
        response = self._request("PUT", f"/tradingpartners/{seg(partner_id)}", body=body, operation="update_partner")
        rows_affected(response, "update_partner")

    # -- mailboxes ----------------------------------------------------------------------

    def mailboxes_page(self, start: int, size: int, *, search: str | None = None) -> list[Mailbox]:
        """Rows ``start .. start+size-1`` of the mailbox list (``search`` matches paths)."""
        params = {"searchFor": search} if search else None
        rows = self._list_rows("/mailboxes/", start, size, params=params, operation="list_mailboxes")
        return [parse(Mailbox, row, "list_mailboxes") for row in rows]

    def list_mailboxes(self, search: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE) -> list[Mailbox]:
        """Every mailbox whose path matches ``search`` (SQL-style wildcards)."""
        pages = RangePaginator(lambda start, size: self.mailboxes_page(start, size, search=search),
                               page_size=page_size, key=lambda m: m.id or m.path, what="list_mailboxes")
        return list(pages)

    def find_mailbox(self, path: str) -> Mailbox:
        """The mailbox at exactly ``path``; NotFound if there is none."""
        for mailbox in self.list_mailboxes(path):
            if mailbox.path == path:
                return mailbox
        raise NotFound(f"Sterling has no mailbox {path!r}", system=SYSTEM, operation="find_mailbox")

    # -- mailbox messages ---------------------------------------------------------------

    def mailbox_page(self, mailbox: Mailbox, start: int, size: int) -> list[MailboxEntry]:
        """Rows of ``mailbox``'s children: its sub-mailboxes and its messages."""
        params = {"parentMailboxId": mailbox.id, "detail": "true"}
        rows = self._list_rows("/mailboxcontents/", start, size, params=params, operation="list_messages")
        return [parse(MailboxEntry, row, "list_messages") for row in rows]

    def message_paginator(
        self, mailbox: Mailbox, *, page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = 1000
    ) -> RangePaginator[MailboxEntry]:
        """The raw walk over ``mailbox``'s children (sub-mailboxes included, so short-page
        detection counts what the server sent); :meth:`list_messages` filters it."""
        return RangePaginator(lambda start, size: self.mailbox_page(mailbox, start, size),
                              page_size=page_size, max_pages=max_pages, what="list_messages")

    def list_messages(
        self, mailbox_path: str, *, only_extractable: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = 1000,
    ) -> list[MailboxMessage]:
        """The messages in ``mailbox_path`` (not its sub-mailboxes), in server order."""
        mailbox = self.find_mailbox(mailbox_path)
        entries = self.message_paginator(mailbox, page_size=page_size, max_pages=max_pages)
        messages = [e.as_message(mailbox) for e in entries if not e.is_mailbox]
        return [m for m in messages if m.extractable] if only_extractable else messages

    def find_messages(self, mailbox_path: str, name: str) -> list[MailboxMessage]:
        """Messages named ``name`` in ``mailbox_path``: how a write whose outcome is unknown
        is resolved before it is sent again."""
        return [m for m in self.list_messages(mailbox_path) if m.name == name]

    def get_message(self, message_id: str | int) -> MailboxMessage:
        """One message's metadata by id; NotFound if absent."""
        response = self._request("GET", f"/mailboxmessages/{seg(message_id)}", operation="get_message")
        return parse(MailboxMessage, read_json(response, "get_message"), "get_message")

    def upload_document(self, content: bytes, *, name: str | None = None) -> str:
        """Store ``content`` as a B2Bi document; returns its documentId. A retried, duplicated
        document is harmless: nothing points at it, and B2Bi purges it after its life span."""
        body: dict[str, Any] = {"payload": base64.b64encode(content).decode("ascii")}
        if name:
            body["documentName"] = name
        response = self._request("POST", "/documents/", body=body, operation="create_document")
        document_id = location_id(response, "create_document")
        if not document_id:
            raise TransientError("Sterling created a document without saying its id", system=SYSTEM,
                                 operation="create_document", status=response.status_code)
        return document_id

    def upload_message(self, mailbox_path: str, name: str, content: bytes, *, extractable_always: bool = True) -> str:
        """Deliver ``content`` as message ``name`` into ``mailbox_path``; returns the message id.

        The message row is written at most once: when its response is lost, the mailbox is
        searched for the (name, documentId) pair before the create is sent again.
        """
        document_id = self.upload_document(content, name=name)
        body = {"documentId": document_id, "mailboxPath": mailbox_path, "name": name,
                "extractableAlways": extractable_always}
        return self._create_message_once(body)

    def download_document(self, document_id: str) -> bytes:
        """The payload bytes of a document (``payload`` is Base64 unless ``isPlainText``)."""
        response = self._request("GET", f"/documents/{seg(document_id)}", operation="get_document")
        body = read_json(response, "get_document")
        payload = body.get("payload") if isinstance(body, dict) else None
        if not isinstance(payload, str):
            raise BadDocument(f"Sterling document {document_id!r} has no payload", system=SYSTEM,
                              operation="get_document", body_excerpt=excerpt(response.content))
        if truthy(body.get("isPlainText")):
            return payload.encode("utf-8")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise BadDocument(f"Sterling document {document_id!r} payload is not Base64", system=SYSTEM,
                              operation="get_document") from None

    def download_message(self, message: MailboxMessage | str | int) -> bytes:
        """The content of a message (looked up first when given only its id)."""
        if not isinstance(message, MailboxMessage):
            message = self.get_message(message)
        if not message.document_id:
            raise NotFound(f"Sterling message {message.id} has no document", system=SYSTEM, operation="get_document")
        return self.download_document(message.document_id)

    def mark_extracted(self, message_id: str | int) -> None:
        """Acknowledge a message we consumed: no mailbox client will extract it again."""
        body = {"extractableAlways": False, "extractableCount": 0}
        response = self._request("PUT", f"/mailboxmessages/{seg(message_id)}", body=body, operation="ack_message")
        rows_affected(response, "ack_message")

    def delete_message(self, message_id: str | int, *, missing_ok: bool = True) -> None:
        """Delete a message. Missing counts as done by default: a retried delete whose first
        response was lost finds nothing left to delete."""
        try:
            self._request("DELETE", f"/mailboxmessages/{seg(message_id)}", operation="delete_message")
        except NotFound:
            if not missing_ok:
                raise

    # -- users, health ------------------------------------------------------------------

    def get_user_account(self, user_id: str) -> UserAccount:
        """One user record. Sent without the admin check, since the check itself reads it."""
        response = self._call("GET", f"/useraccounts/{seg(user_id)}", operation="get_user")
        return parse(UserAccount, read_json(response, "get_user"), "get_user")

    def check_not_admin(self) -> None:
        """Raise :class:`AuthError` when the configured account is a B2Bi administrator.

        Runs once per client (the first call does it); a transient failure leaves it to the
        next call. An account that may not read its own user record (403) is no administrator.
        """
        with self._admin_lock:
            if self._admin_checked:
                return
            reason = self._admin_reason()
            if reason:
                raise AuthError(
                    f"refusing to use Sterling account {self.config.username!r}: {reason}. Configure a dedicated "
                    "user with only the API User permission and rights on the partner mailboxes.",
                    system=SYSTEM, operation="check_not_admin", code="admin-account",
                )
            self._admin_checked = True

    def ping(self) -> None:
        """Check connectivity, credentials and the account's role: list one partner."""
        self.partners_page(0, 1)

    # -- plumbing -----------------------------------------------------------------------

    def _admin_reason(self) -> str | None:
        if self.config.username.lower() in BUILTIN_ADMIN_USERS:
            return f"it is the built-in '{self.config.username}' account"
        try:
            account = self.get_user_account(self.config.username)
        except AuthError as exc:
            if exc.status == 403:  # administrators may read every account, their own included
                return None
            raise
        except NotFound:
            log.warning("Sterling: cannot read user account %r; admin check inconclusive", self.config.username)
            return None
        return admin_reason(account, self.config.admin_groups)

    def _create_message_once(self, body: dict[str, Any]) -> str:
        single = dataclasses.replace(self.policy, attempts=1)
        for attempt in range(1, self.policy.attempts + 1):
            try:
                response = self._request("POST", "/mailboxmessages/", body=body, operation="create_message", policy=single)
                message_id = location_id(response, "create_message")
                if message_id:
                    return message_id
                raise TransientError("Sterling created a message without saying its id", system=SYSTEM,
                                     operation="create_message", status=response.status_code)
            except TransientError as exc:
                if attempt == self.policy.attempts:
                    raise
                self.policy.sleep(self.policy.delay(attempt, exc))
                # Did the lost attempt commit? Its documentId is unique to this upload.
                done = [m for m in self.find_messages(body["mailboxPath"], body["name"])
                        if m.document_id == body["documentId"]]
                if done:
                    return done[0].id
        raise AssertionError("unreachable")  # pragma: no cover

    def _list_rows(self, resource: str, start: int, size: int, *, params: dict | None, operation: str) -> list[dict]:
        query = {**(params or {}), "_range": range_param(start, size)}
        try:
            response = self._request("GET", resource, params=query, operation=operation)
        except NotFound as exc:
            if exc.code is not None:  # Sterling's error object: nothing (more) to list
                return []
            raise  # a bare 404 page: wrong base URL or API not installed
        rows = read_json(response, operation)
        if not isinstance(rows, list):
            raise TransientError(f"Sterling answered {operation} without a list", system=SYSTEM, operation=operation,
                                 status=response.status_code, body_excerpt=excerpt(response.content))
        return rows

    def _request(self, method: str, resource: str, *, params: dict | None = None, body: Any = None,
                 operation: str, policy: RetryPolicy | None = None) -> httpx.Response:
        self.check_not_admin()
        return self._call(method, resource, params=params, body=body, operation=operation, policy=policy)

    def _call(self, method: str, resource: str, *, params: dict | None = None, body: Any = None,
              operation: str, policy: RetryPolicy | None = None) -> httpx.Response:
        url = self.config.api_url + resource
        content = json.dumps(body).encode() if body is not None else None
        # Sterling wants both headers on every call, GETs included (§C.2).
        headers = {"Accept": "application/json", "Content-Type": "application/json"}

        def build() -> httpx.Request:
            return self.http.build_request(method, url, params=params, content=content, headers=headers)

        try:
            return send(self.http, build, system=SYSTEM, operation=operation,
                        check=functools.partial(check, operation=operation), policy=policy or self.policy)
        except IntegrationError as exc:
            raise sterling_error(exc) from None

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> SterlingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
