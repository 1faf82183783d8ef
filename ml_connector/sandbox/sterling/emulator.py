"""IBM Sterling B2B Integrator emulator: the B2B REST APIs under ``/B2BAPIs/svc`` (reference §C.10).

Behaves as the reference sheet describes the real service:
- HTTP Basic only; 401 without valid credentials, 403 for an account lacking *API User*.
  The sandbox user is a plain API user; an ``admin`` account (group Admin) exists too, so
  tests can check that the client refuses it;
- ``tradingpartners`` CRUD (creating a partner creates ``/<name>``, ``/<name>/Inbox`` and
  ``/<name>/Outbox``), ``mailboxes``, ``mailboxcontents``, ``mailboxmessages`` (JSON with a
  documentId), ``documents`` (Base64 payloads, ids ``emu:node1:<hex>:<seq>``), multipart
  ``messagebatches`` (parts ``upstream`` and ``mailboxName``) and ``useraccounts``;
- ``Location`` on create, ``rowsAffected`` on PUT/DELETE, bare arrays paged by ``_range``,
  ``searchFor``/``_include``/``_exclude``, ``{errorCode, errorDescription}`` errors;
- fault injection from the base class; an injected 5xx is the NullPointerException body
  B2Bi has been seen to send.

"Partner plays back": :meth:`SterlingEmulator.answer_with_997` makes each partner answer
every X12 interchange delivered into its ``Inbox`` with a 997 placed in its ``Outbox``
(accepted, rejected, or never), after ``delay`` seconds of the emulator's clock.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ..base import Emulator, FaultPlan
from .store import SterlingState, User
from .wire import API, ApiError, error_response, json_response, multipart_parts, page, project, read_json, timestamp
from .x12 import Interchange, build_997, looks_like_x12, read_envelope

MODES = ("accept", "reject", "none")
_VERBS = {("GET", False): "list", ("POST", False): "create", ("GET", True): "get",
          ("PUT", True): "update", ("DELETE", True): "delete"}


@dataclass
class _PendingAck:
    due: float
    partner: str
    source: str
    received: Interchange
    accept: bool


class SterlingEmulator(Emulator):
    """A stateful B2Bi. Seed with :meth:`add_partner`/:meth:`put_message`, inspect with
    :meth:`partners`, :meth:`mailbox_messages`, :meth:`delivered` and :meth:`acks`."""

    system = "sterling"

    def __init__(
        self, faults: FaultPlan | None = None, *, username: str = "mlconnector", password: str = "Sandbox-Passw0rd",
        admin_password: str = "Admin-Passw0rd", clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(faults)
        self.username, self.password, self.admin_password = username, password, admin_password
        self.clock = clock
        self.state = SterlingState(lambda: self.base_url)
        self.add_user(username, password, groups=("APIUsers",))
        self.add_user("admin", admin_password, groups=("Admin",))
        self._playback: dict[str | None, tuple[str, float]] = {None: ("none", 0.0)}
        self._pending: list[_PendingAck] = []
        self._acks: list[dict[str, Any]] = []
        self._deliveries: dict[str, list[dict[str, Any]]] = {}
        self._ack_numbers = itertools.count(900000001)
        self.playback_errors: list[str] = []

    # -- seeding and inspection ---------------------------------------------------------

    def credentials(self) -> dict:
        """The non-admin sandbox account a client should use."""
        return self._credentials(self.username, self.password)

    def admin_credentials(self) -> dict:
        """The administrator account (a correct client refuses to run with it)."""
        return self._credentials("admin", self.admin_password)

    def _credentials(self, username: str, password: str) -> dict:
        return {"base_url": self.base_url, "username": username, "password": password,
                "allow_insecure_http": self.base_url.startswith("http://")}

    def add_user(self, user_id: str, password: str, *, groups: tuple[str, ...] = (),
                 permissions: tuple[str, ...] = ("API User",)) -> None:
        """Add an account that may authenticate (``permissions`` without API User -> 403)."""
        with self.lock:
            self.state.users[user_id] = User(user_id, password, list(groups), list(permissions))

    def add_partner(self, name: str, **fields: Any) -> dict[str, Any]:
        """Create a trading partner (and its mailboxes) as the API would; returns its fields."""
        body = {"partnerName": name, "username": f"{name.lower()}_user"[:36].ljust(5, "0"),
                "password": "Partner-Passw0rd", "authenticationType": "Local", "community": "ML_COMMUNITY",
                "emailAddress": f"edi@{name.lower()}.example", "givenName": name, "surname": "Partner",
                "phone": "5555555555", **fields}
        with self.lock:
            self.state.create_partner(body)
            return dict(self.state.partners[name])

    def partners(self) -> list[dict[str, Any]]:
        """Every partner's stored fields (plain values, never a password), by name."""
        with self.lock:
            return [dict(self.state.partners[n]) for n in sorted(self.state.partners)]

    def mailbox_paths(self) -> list[str]:
        with self.lock:
            return sorted(self.state.mailbox_ids)

    def put_message(self, path: str, name: str, content: bytes, *, extractable_always: bool = False) -> int:
        """Drop a message into ``path`` (created if missing), as a partner's upload would."""
        with self.lock:
            self.state.ensure_mailbox(path, "seeded")
            document_id = self.state.add_document(content, name)
            message = self.state.add_message(path, name, document_id, always=extractable_always)
            self._arrived(message)
            return message["id"]

    def mailbox_messages(self, path: str) -> list[dict[str, Any]]:
        """The messages now in ``path``, oldest first, with their content."""
        with self.lock:
            self._release_due_acks()
            return [self._inspect(m) for m in self.state.messages.values() if m["mailboxPath"] == path]

    def delivered(self, partner: str) -> list[dict[str, Any]]:
        """Everything ever delivered into ``partner``'s Inbox, oldest first (deleted or not)."""
        with self.lock:
            return [dict(d) for d in self._deliveries.get(partner, [])]

    def answer_with_997(self, mode: str = "accept", delay: float = 0.0, *, partner: str | None = None) -> None:
        """Make ``partner`` (all partners when None) answer each X12 interchange delivered into
        its Inbox: ``accept`` (AK5*A), ``reject`` (AK5*R*5) or ``none`` (silence), ``delay``
        seconds of :attr:`clock` later, as a 997 in its Outbox."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if delay < 0:
            raise ValueError("delay must be >= 0")
        with self.lock:
            self._playback[partner] = (mode, float(delay))

    def acks(self, partner: str | None = None) -> list[dict[str, Any]]:
        """The 997s the partners sent so far (after releasing those now due)."""
        with self.lock:
            self._release_due_acks()
            return [dict(a) for a in self._acks if partner is None or a["partner"] == partner]

    def pending_acks(self) -> int:
        """How many 997s are waiting for their delay to pass."""
        with self.lock:
            self._release_due_acks()
            return len(self._pending)

    def flush_acks(self) -> int:
        """Send every pending 997 now, whatever its delay; returns how many were sent."""
        with self.lock:
            return self._release_due_acks(force=True)

    # -- the Emulator contract ----------------------------------------------------------

    def is_write(self, request: httpx.Request) -> bool:
        return request.method in ("POST", "PUT", "DELETE") and request.url.path.startswith(API + "/")

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "429":
            return super().fault_response(kind, request)
        return error_response(500, "java.lang.NullPointerException")

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        self._release_due_acks()
        path = request.url.path
        if not path.startswith(API + "/"):
            # Outside the API context Liberty answers with its own page, not an error object.
            return httpx.Response(404, text=f"Error 404: SRVE0190E: File not found: {path}")
        user = self._authenticate(request)
        if user is None:
            return httpx.Response(401, text="Error 401: Unauthorized",
                                  headers={"WWW-Authenticate": 'Basic realm="B2BAPIs"'})
        try:
            if "API User" not in user.permissions:
                raise ApiError(403, f"User {user.user_id} does not have the API User permission.")
            return self._route(request, user, [p for p in path[len(API):].split("/") if p])
        except ApiError as exc:
            return error_response(exc.status, exc.description)

    def _authenticate(self, request: httpx.Request) -> User | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user_id, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            return None
        user = self.state.users.get(user_id)
        return user if user is not None and user.password == password else None

    def _route(self, request: httpx.Request, user: User, parts: list[str]) -> httpx.Response:
        if not parts or len(parts) > 2:
            raise ApiError(404, f"API000161: No resource at {request.url.path}.")
        resource, item = parts[0], (parts[1] if len(parts) == 2 else None)
        verb = _VERBS.get((request.method, item is not None))
        handler = getattr(self, f"_{resource}_{verb}", None) if verb else None
        if handler is None:
            if any(name.startswith(f"_{resource}_") for name in dir(self)):
                raise ApiError(405, f"{request.method} is not supported on {resource}.")
            raise ApiError(404, f"API000161: Unknown resource {resource}.")
        return handler(request, user, item)

    def _location(self, resource: str, item_id: object, status: int = 201) -> httpx.Response:
        return json_response({"Location": f"{self.base_url}{API}/{resource}/{quote(str(item_id), safe=':')}"}, status)

    # -- trading partners ---------------------------------------------------------------

    def _tradingpartners_list(self, request, user, item):
        return page(request, self.state.partner_rows(request.url.params.get("searchFor")), "trading partners")

    def _tradingpartners_create(self, request, user, item):
        # One public client treats 200 as success here (§C.3): answer 200, not 201.
        return self._location("tradingpartners", self.state.create_partner(read_json(request)), 200)

    def _tradingpartners_get(self, request, user, item):
        return json_response(project(request, self.state.partner_shape(item)))

    def _tradingpartners_update(self, request, user, item):
        self.state.update_partner(item, read_json(request))
        return json_response({"rowsAffected": 1})

    def _tradingpartners_delete(self, request, user, item):
        self.state.partner(item)
        del self.state.partners[item]
        self.state.partner_passwords.pop(item, None)
        return json_response({"rowsAffected": 1})

    # -- mailboxes ----------------------------------------------------------------------

    def _mailboxes_list(self, request, user, item):
        return page(request, self.state.mailbox_rows(request.url.params.get("searchFor")), "mailboxes")

    def _mailboxes_create(self, request, user, item):
        return self._location("mailboxes", self.state.create_mailbox(read_json(request)))

    def _mailboxes_get(self, request, user, item):
        return json_response(project(request, self.state.mailbox_shape(item)))

    def _mailboxcontents_list(self, request, user, item):
        parent = request.url.params.get("parentMailboxId")
        if not parent:
            raise ApiError(400, "API000150: Required parameter missing: parentMailboxId.")
        detail = request.url.params.get("detail", "false").lower() == "true"
        return page(request, self.state.children_rows(parent, detail), "mailbox contents")

    # -- documents and messages ---------------------------------------------------------

    def _documents_create(self, request, user, item):
        return self._location("documents", self.state.create_document(read_json(request)))

    def _documents_get(self, request, user, item):
        return json_response(project(request, self.state.document_shape(item)))

    def _mailboxmessages_list(self, request, user, item):
        # The mailboxPath filter is this emulator's guess ([U] in §C.7); clients list a
        # mailbox through mailboxcontents.
        params = request.url.params
        return page(request, self.state.message_rows(params.get("mailboxPath"), params.get("searchFor")),
                    "mailbox messages")

    def _mailboxmessages_create(self, request, user, item):
        message = self.state.create_message(read_json(request))
        self._arrived(message)
        return self._location("mailboxmessages", message["id"])

    def _mailboxmessages_get(self, request, user, item):
        return json_response(project(request, self.state.message_shape(item)))

    def _mailboxmessages_update(self, request, user, item):
        self.state.update_message(item, read_json(request))
        return json_response({"rowsAffected": 1})

    def _mailboxmessages_delete(self, request, user, item):
        message = self.state.message(item)
        del self.state.messages[message["id"]]
        return json_response({"rowsAffected": 1})

    def _messagebatches_create(self, request, user, item):
        parts = multipart_parts(request)
        if "upstream" not in parts or "mailboxName" not in parts:
            raise ApiError(400, "API000150: Required part(s) missing: upstream, mailboxName.")
        filename, content = parts["upstream"]
        document_id = self.state.add_document(content, filename)
        body = {"documentId": document_id, "mailboxPath": parts["mailboxName"][1].decode("utf-8").strip(),
                "name": filename or "upstream"}
        message = self.state.create_message(body)
        self._arrived(message)
        # The batch id in Location is the new mailbox message's id (§C.7).
        return self._location("messagebatches", message["id"])

    # -- users --------------------------------------------------------------------------

    def _useraccounts_list(self, request, user, item):
        if "Admin" not in user.groups:
            raise ApiError(403, f"User {user.user_id} may not list user accounts.")
        rows = [self.state.user_shape(u) for _, u in sorted(self.state.users.items())]
        return page(request, rows, "user accounts")

    def _useraccounts_get(self, request, user, item):
        if item != user.user_id and "Admin" not in user.groups:
            raise ApiError(403, f"User {user.user_id} may not read user account {item}.")
        if item not in self.state.users:
            raise ApiError(404, f"API000161: User account {item} does not exist.")
        return json_response(project(request, self.state.user_shape(self.state.users[item])))

    # -- partner playback ---------------------------------------------------------------

    def _arrived(self, message: dict[str, Any]) -> None:
        """Record a delivery into a partner's Inbox and queue that partner's 997, if any."""
        partner = self._inbox_owner(message["mailboxPath"])
        if partner is None:
            return
        content = self.state.documents[message["documentId"]]["content"]
        self._deliveries.setdefault(partner, []).append(
            {"id": message["id"], "name": message["name"], "content": content, "documentId": message["documentId"]})
        mode, delay = self._playback.get(partner, self._playback[None])
        if mode == "none" or not looks_like_x12(content):
            return
        try:
            received = read_envelope(content)
        except ValueError as exc:
            self.playback_errors.append(f"{partner}/{message['name']}: {exc}")
            return
        self._pending.append(_PendingAck(self.clock() + delay, partner, message["name"], received, mode == "accept"))
        self._release_due_acks()

    def _inbox_owner(self, path: str) -> str | None:
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[1] == "Inbox" and parts[0] in self.state.partners:
            return parts[0]
        return None

    def _release_due_acks(self, force: bool = False) -> int:
        now = self.clock()
        due = [p for p in self._pending if force or p.due <= now]
        if due:
            self._pending = [p for p in self._pending if not (force or p.due <= now)]
        for pending in due:
            self._send_ack(pending)
        return len(due)

    def _send_ack(self, pending: _PendingAck) -> None:
        number = next(self._ack_numbers)
        content = build_997(pending.received, accept=pending.accept, control_number=number)
        if content is None:  # only 997s were delivered: a 997 is never acknowledged
            return
        path = f"/{pending.partner}/Outbox"
        self.state.ensure_mailbox(path, f"Mailbox of trading partner {pending.partner}")
        name = f"997_{number:09d}.x12"
        message = self.state.add_message(path, name, self.state.add_document(content, name))
        self._acks.append({
            "partner": pending.partner, "message_id": message["id"], "name": name, "content": content,
            "acknowledges": pending.source, "interchange": pending.received.control,
            "groups": [(g.functional_id, g.control) for g in pending.received.groups if g.functional_id != "FA"],
            "accepted": pending.accept,
        })

    def _inspect(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"id": message["id"], "name": message["name"], "documentId": message["documentId"],
                "content": self.state.documents[message["documentId"]]["content"],
                "extractableAlways": message["extractableAlways"], "extractableCount": message["extractableCount"],
                "creationDate": timestamp(message["created"])}

