"""State of the Sterling emulator: users, trading partners, mailboxes, documents, messages.

Every operation validates the way the swagger-derived schemas do (reference §C.6, C.7) and
raises :class:`ApiError` with the status a real B2Bi would answer; the ``*_shape`` methods
build the GET representations. Callers hold the emulator's lock.

Decisions where the reference is silent ([U]): a duplicate partner, username or mailbox path
is 409; a missing document or mailbox named in a message body is 400; a message created
without extractability settings is extractable once (count 1).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .wire import ApiError, coded, hypermedia, like, timestamp

PARTNER_CREATE_REQUIRED = ("partnerName", "username", "authenticationType", "community", "emailAddress",
                           "givenName", "surname", "phone")
PARTNER_UPDATE_REQUIRED = ("authenticationType", "community", "emailAddress", "givenName", "surname", "phone")
PARTNER_BOOLEANS = ("isInitiatingConsumer", "isInitiatingProducer", "isListeningConsumer", "isListeningProducer",
                    "doesUseSSH", "doesRequireCompressedData", "doesRequireEncryptedData", "doesRequireSignedData",
                    "useGlobalMailbox", "textMode", "keyEnabled", "asciiArmor", "appendSuffixToUsername")
PARTNER_CODES = ("authenticationType", "countryOrRegion", "timeZone")
MAILBOX_TYPES = {"R": "Regular", "S": "Shared", "L": "Linked"}


@dataclass
class User:
    """An account that may call the API. ``admin`` users belong to the Admin group."""

    user_id: str
    password: str
    groups: list[str] = field(default_factory=list)
    permissions: list[str] = field(default_factory=lambda: ["API User"])


def _flag(value: Any) -> bool:
    # Create schemas list booleans as "0"/"1" while clients send true/false; accept both.
    if isinstance(value, dict):
        value = value.get("code")
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


def _missing(body: dict[str, Any], fields: tuple[str, ...]) -> None:
    absent = [f for f in fields if body.get(f) in (None, "")]
    if absent:
        raise ApiError(400, f"API000150: Required field(s) missing: {', '.join(absent)}.")


class SterlingState:
    """The emulator's data. ``base_url`` is read per call: it changes when the emulator is served."""

    def __init__(self, base_url: Callable[[], str], clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url
        self.clock = clock
        self.users: dict[str, User] = {}
        self.partners: dict[str, dict[str, Any]] = {}
        self.partner_passwords: dict[str, str] = {}
        self.mailboxes: dict[int, dict[str, Any]] = {}
        self.mailbox_ids: dict[str, int] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(100)
        self._doc_seq = itertools.count(1)
        self._doc_hex = format(int(clock() * 1000), "x")

    # -- users --------------------------------------------------------------------------

    def user_shape(self, user: User) -> dict[str, Any]:
        return {**hypermedia(self.base_url(), "useraccounts", user.user_id, "UserAccount"),
                "userId": user.user_id, "givenName": user.user_id, "surname": "Sandbox",
                "authenticationType": coded("Local"), "preferredLanguage": coded("en"),
                "groups": [{"name": g} for g in user.groups],
                "permissions": [{"name": p} for p in user.permissions]}

    # -- trading partners ---------------------------------------------------------------

    def create_partner(self, body: dict[str, Any]) -> str:
        """Validate and store a partner, with its mailboxes; returns its id (the name)."""
        _missing(body, PARTNER_CREATE_REQUIRED)
        name, username = str(body["partnerName"]), str(body["username"])
        if not 5 <= len(username) <= 36:
            raise ApiError(400, f"API000151: username must be 5 to 36 characters, got {len(username)}.")
        if body["authenticationType"] not in ("Local", "External"):
            raise ApiError(400, "API000152: authenticationType must be Local or External.")
        password = body.get("password")
        if body["authenticationType"] == "Local" and not (isinstance(password, str) and 6 <= len(password) <= 128):
            raise ApiError(400, "API000153: password must be 6 to 128 characters for Local authentication.")
        if name in self.partners:
            raise ApiError(409, f"API000170: Trading partner {name} already exists.")
        if username in self.users or any(p["username"] == username for p in self.partners.values()):
            raise ApiError(409, f"API000171: User {username} already exists.")
        partner = {k: v for k, v in body.items() if k != "password"}
        partner.setdefault("code", re.sub(r"[^A-Za-z0-9]", "", name)[:24])
        partner.setdefault("mailbox", f"/{name}")
        self.partners[name] = partner
        if password:
            self.partner_passwords[name] = password
        for path in (f"/{name}", f"/{name}/Inbox", f"/{name}/Outbox"):
            self.ensure_mailbox(path, f"Mailbox of trading partner {name}")
        return name

    def partner(self, name: str) -> dict[str, Any]:
        if name not in self.partners:
            raise ApiError(404, f"API000161: Trading partner {name} does not exist.")
        return self.partners[name]

    def update_partner(self, name: str, body: dict[str, Any]) -> None:
        partner = self.partner(name)
        _missing(body, PARTNER_UPDATE_REQUIRED)
        for key in ("partnerName", "username"):
            if key in body and body[key] != partner[key]:
                raise ApiError(400, f"API000154: {key} cannot be changed by an update.")
        partner.update({k: v for k, v in body.items() if k != "password"})

    def partner_shape(self, name: str) -> dict[str, Any]:
        partner = self.partner(name)
        shape = hypermedia(self.base_url(), "tradingpartners", name, "TradingPartner")
        for key, value in partner.items():
            if key in PARTNER_BOOLEANS:
                value = coded(_flag(value))
            elif key in PARTNER_CODES:
                value = coded(value)
            shape[key] = value
        return shape

    def partner_rows(self, search: str | None) -> list[dict[str, Any]]:
        return [self.partner_shape(n) for n in sorted(self.partners) if like(search, n)]

    # -- mailboxes ----------------------------------------------------------------------

    def ensure_mailbox(self, path: str, description: str) -> int:
        """The id of the mailbox at ``path``, creating it (and its parents) when missing."""
        if path in self.mailbox_ids:
            return self.mailbox_ids[path]
        parent = path.rsplit("/", 1)[0]
        if parent:
            self.ensure_mailbox(parent, description)
        mailbox_id = next(self._ids)
        self.mailboxes[mailbox_id] = {"id": mailbox_id, "path": path, "description": description,
                                      "mailboxType": "R", "linkedToMailbox": "", "users": "", "groups": ""}
        self.mailbox_ids[path] = mailbox_id
        return mailbox_id

    def create_mailbox(self, body: dict[str, Any]) -> int:
        _missing(body, ("path", "description"))
        path = str(body["path"]).rstrip("/")
        if not path.startswith("/"):
            raise ApiError(400, "API000155: path must be absolute, e.g. /Partner/Inbox.")
        if path in self.mailbox_ids:
            raise ApiError(409, f"API000172: Mailbox {path} already exists.")
        parent = path.rsplit("/", 1)[0]
        if parent and parent not in self.mailbox_ids and not _flag(body.get("createParentMailbox")):
            raise ApiError(400, f"API000156: Parent mailbox {parent} does not exist.")
        mailbox_id = self.ensure_mailbox(path, str(body["description"]))
        kind = str(body.get("mailboxType") or "R")
        self.mailboxes[mailbox_id]["mailboxType"] = kind if kind in MAILBOX_TYPES else "R"
        return mailbox_id

    def mailbox(self, mailbox_id: str | int) -> dict[str, Any]:
        try:
            return self.mailboxes[int(mailbox_id)]
        except (KeyError, ValueError):
            raise ApiError(404, f"API000161: Mailbox {mailbox_id} does not exist.") from None

    def mailbox_shape(self, mailbox_id: str | int) -> dict[str, Any]:
        box = self.mailbox(mailbox_id)
        return {**hypermedia(self.base_url(), "mailboxes", str(box["id"]), "Mailbox"),
                "path": box["path"], "description": box["description"], "permission": "",
                "mailboxType": {"code": box["mailboxType"], "display": MAILBOX_TYPES[box["mailboxType"]]},
                "linkedToMailbox": box["linkedToMailbox"], "users": box["users"], "groups": box["groups"]}

    def mailbox_rows(self, search: str | None) -> list[dict[str, Any]]:
        return [self.mailbox_shape(i) for p, i in sorted(self.mailbox_ids.items()) if like(search, p)]

    def children_rows(self, parent_id: str | int, detail: bool) -> list[dict[str, Any]]:
        """``mailboxcontents``: sub-mailboxes first, then messages, each in creation order."""
        parent = self.mailbox(parent_id)["path"]
        subs = [b for b in self.mailboxes.values() if b["path"].rsplit("/", 1)[0] == parent and b["path"] != parent]
        rows = [{"id": b["id"], "name": b["path"].rsplit("/", 1)[1], "type": "mailbox",
                 "description": b["description"]} for b in subs]
        for message in self.messages.values():
            if message["mailboxPath"] == parent:
                rows.append(self._entry(message) if detail else
                            {"id": message["id"], "name": message["name"], "type": "message"})
        return rows

    def _entry(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"id": message["id"], "name": message["name"], "type": "message", "description": "",
                "documentId": message["documentId"], "size": message["size"],
                "extractableAlways": coded(message["extractableAlways"]),
                "extractableCount": message["extractableCount"], "extractableUntil": message["extractableUntil"],
                "creationDate": timestamp(message["created"])}

    # -- documents ----------------------------------------------------------------------

    def create_document(self, body: dict[str, Any]) -> str:
        payload = body.get("payload")
        if not isinstance(payload, str):
            raise ApiError(400, "API000150: Required field(s) missing: payload.")
        if _flag(body.get("isPlainText")):
            content = payload.encode("utf-8")
        else:
            try:
                content = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, "API000157: payload is not valid Base64.") from None
        return self.add_document(content, body.get("documentName"))

    def add_document(self, content: bytes, name: str | None = None) -> str:
        document_id = f"emu:node1:{self._doc_hex}:{next(self._doc_seq)}"
        self.documents[document_id] = {"content": bytes(content), "documentName": name or ""}
        return document_id

    def document_shape(self, document_id: str) -> dict[str, Any]:
        document = self.documents.get(document_id)
        if document is None:
            raise ApiError(404, f"API000161: Document {document_id} does not exist.")
        return {**hypermedia(self.base_url(), "documents", document_id, "Document"),
                "documentId": document_id, "documentName": document["documentName"],
                "size": len(document["content"]), "isPlainText": coded(False),
                "payload": base64.b64encode(document["content"]).decode("ascii")}

    # -- mailbox messages ---------------------------------------------------------------

    def create_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate and store a message row pointing at an existing document."""
        _missing(body, ("documentId", "mailboxPath", "name"))
        if body["documentId"] not in self.documents:
            raise ApiError(400, f"API000158: Document {body['documentId']} does not exist.")
        if body["mailboxPath"] not in self.mailbox_ids:
            raise ApiError(400, f"API000159: Mailbox {body['mailboxPath']} does not exist.")
        always = _flag(body.get("extractableAlways"))
        count = body.get("extractableCount")
        if count is None and not always and not body.get("extractableUntil"):
            count = 1
        return self.add_message(str(body["mailboxPath"]), str(body["name"]), str(body["documentId"]),
                                always=always, count=count, until=body.get("extractableUntil"))

    def add_message(self, path: str, name: str, document_id: str, *, always: bool = False,
                    count: int | None = 1, until: str | None = None) -> dict[str, Any]:
        message_id = next(self._ids)
        message = {"id": message_id, "mailboxId": self.mailbox_ids[path], "mailboxPath": path, "name": name,
                   "documentId": document_id, "size": len(self.documents[document_id]["content"]),
                   "created": self.clock(), "extractableAlways": always,
                   "extractableCount": int(count) if count is not None else None, "extractableUntil": until}
        self.messages[message_id] = message
        return message

    def message(self, message_id: str | int) -> dict[str, Any]:
        try:
            return self.messages[int(message_id)]
        except (KeyError, ValueError):
            raise ApiError(404, f"API000161: Mailbox message {message_id} does not exist.") from None

    def message_shape(self, message_id: str | int) -> dict[str, Any]:
        m = self.message(message_id)
        shape = hypermedia(self.base_url(), "mailboxmessages", str(m["id"]), "MailboxMessage")
        shape["actions"] = {"href": shape["href"] + "/actions", "$ref": shape["href"] + "/actions"}
        return {**shape, "mailboxPath": m["mailboxPath"], "mailboxId": m["mailboxId"], "name": m["name"],
                "id": m["id"], "creationDate": timestamp(m["created"]),
                "extractableAlways": coded(m["extractableAlways"]), "extractableCount": m["extractableCount"],
                "extractableUntil": m["extractableUntil"], "size": m["size"], "documentId": m["documentId"]}

    def message_rows(self, mailbox_path: str | None, search: str | None) -> list[dict[str, Any]]:
        return [self.message_shape(i) for i, m in self.messages.items()
                if (mailbox_path is None or m["mailboxPath"] == mailbox_path) and like(search, m["name"])]

    def update_message(self, message_id: str | int, body: dict[str, Any]) -> None:
        message = self.message(message_id)
        if "extractableAlways" in body:
            message["extractableAlways"] = _flag(body["extractableAlways"])
        if "extractableCount" in body:
            try:
                message["extractableCount"] = int(body["extractableCount"])
            except (TypeError, ValueError):
                raise ApiError(400, "API000157: extractableCount must be a whole number.") from None
        if "extractableUntil" in body:
            message["extractableUntil"] = body["extractableUntil"] or None
