"""Sterling B2B Integrator REST resources as pydantic models (reference §C.3, C.6, C.7, C.9).

Two wire quirks shape these models:
- on GET, enum-ish and boolean fields come back as ``{"code": ..., "display": ...}`` objects,
  while POST/PUT take the plain value; :data:`Coded` unwraps the object on the way in, so one
  model serves both reading and writing;
- ids arrive as strings (``_id``) and as numbers (``id``); they are kept as strings here.

Field names are camelCase on the wire and snake_case in Python. Unknown fields are ignored:
Sterling returns many protocol settings this connector never touches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


def _unwrap_code(value: Any) -> Any:
    # {"code": true, "display": "Yes"} on GET, plain ``true`` on POST: keep the code.
    if isinstance(value, dict) and "code" in value:
        return value["code"]
    return value


def _id_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _names(value: Any) -> Any:
    # useraccounts list groups/permissions as [{"name": "..."}]; accept plain strings too.
    if isinstance(value, list):
        return [v.get("name") if isinstance(v, dict) else v for v in value]
    if isinstance(value, str):  # "users"/"groups" on mailboxes are comma-separated text
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


Coded = BeforeValidator(_unwrap_code)
IdText = BeforeValidator(_id_text)
CodedBool = Annotated[bool | None, Coded]
CodedStr = Annotated[str | None, Coded]


class SterlingModel(BaseModel):
    """camelCase aliases, populate by either name, ignore what we do not map."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self, *, include: set[str] | None = None, exclude: set[str] | None = None) -> dict[str, Any]:
        """The POST/PUT body: camelCase keys, plain values, no unset fields."""
        return self.model_dump(by_alias=True, exclude_none=True, include=include, exclude=exclude)


class TradingPartner(SterlingModel):
    """A trading partner (SFG identity + user + mailboxes). ``id`` is the server's key."""

    id: Annotated[str | None, IdText] = Field(default=None, alias="_id", exclude=True)
    partner_name: str
    code: str | None = None
    username: str | None = None
    authentication_type: CodedStr = None
    community: CodedStr = None
    email_address: str | None = None
    given_name: str | None = None
    surname: str | None = None
    phone: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state_or_province: str | None = None
    postal_code: str | None = None
    country_or_region: CodedStr = None
    time_zone: CodedStr = None
    is_initiating_consumer: CodedBool = None
    is_initiating_producer: CodedBool = None
    is_listening_consumer: CodedBool = None
    is_listening_producer: CodedBool = None
    does_use_ssh: CodedBool = Field(default=None, alias="doesUseSSH")
    mailbox: str | None = None


# What the swagger-derived schema requires (§C.6). Update takes neither name nor username.
PARTNER_CREATE_REQUIRED = (
    "partnerName", "username", "authenticationType", "community", "emailAddress", "givenName", "surname", "phone",
)
PARTNER_UPDATE_REQUIRED = ("authenticationType", "community", "emailAddress", "givenName", "surname", "phone")


class Mailbox(SterlingModel):
    """A mailbox in the tree, addressed by its absolute ``path`` (``/ACME_RETAIL/Inbox``)."""

    id: Annotated[str | None, IdText] = Field(default=None, alias="_id")
    path: str
    description: str | None = None
    mailbox_type: CodedStr = None
    linked_to_mailbox: str | None = None
    users: Annotated[list[str], BeforeValidator(_names)] = []
    groups: Annotated[list[str], BeforeValidator(_names)] = []


class MailboxMessage(SterlingModel):
    """A message in a mailbox: metadata plus a ``document_id`` pointing at the payload."""

    id: Annotated[str, IdText] = Field(validation_alias=AliasChoices("id", "_id", "messageId"))
    name: str
    mailbox_path: str | None = None
    mailbox_id: Annotated[str | None, IdText] = None
    document_id: str | None = None
    size: int | None = None
    creation_date: datetime | None = None
    extractable_always: CodedBool = None
    extractable_count: int | None = None
    extractable_until: str | None = None
    description: str | None = None

    @property
    def extractable(self) -> bool:
        """Whether a mailbox client would still pick this message up (not yet consumed)."""
        if self.extractable_always:
            return True
        return bool(self.extractable_count) or bool(self.extractable_until)


class MailboxEntry(SterlingModel):
    """One child of a mailbox, as ``mailboxcontents`` lists it: a sub-mailbox or a message."""

    id: Annotated[str, IdText]
    name: str
    type: str | None = None
    document_id: str | None = None
    size: int | None = None
    creation_date: datetime | None = None
    extractable_always: CodedBool = None
    extractable_count: int | None = None
    extractable_until: str | None = None
    description: str | None = None

    @property
    def is_mailbox(self) -> bool:
        return (self.type or "").lower() == "mailbox"

    def as_message(self, mailbox: Mailbox) -> MailboxMessage:
        """The entry as a :class:`MailboxMessage` of ``mailbox``."""
        data = self.model_dump(exclude={"type"})
        return MailboxMessage(**data, mailbox_path=mailbox.path, mailbox_id=mailbox.id)


class UserAccount(SterlingModel):
    """A B2Bi user: enough of it to tell an administrator from an API user (§C.9)."""

    user_id: str
    given_name: str | None = None
    surname: str | None = None
    authentication_type: CodedStr = None
    groups: Annotated[list[str], BeforeValidator(_names)] = []
    permissions: Annotated[list[str], BeforeValidator(_names)] = []
