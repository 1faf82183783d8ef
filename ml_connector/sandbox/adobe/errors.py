"""Error answers of the Adobe Commerce emulator, as Magento's REST layer renders them (reference §A.3).

Magento sends the *template* of a message and its parameters separately; the client must fill
``%name`` (parameters an object) or ``%1..%n`` (parameters a list) itself. The emulator keeps
the templates unfilled on purpose, so a client that shows ``message`` raw is caught by tests.
The wording of each template is Magento's own where the source was read (OAuth, search
criteria, no-such-entity, masked internal errors); the rest is marked [U] in the reference.
"""

from __future__ import annotations

import secrets
from typing import Any

ROUTE_NOT_FOUND = "Request does not match any route."
ENTITY_NOT_FOUND = "The entity that was requested doesn't exist. Verify the entity and try again."
PRODUCT_NOT_FOUND = "The product that was requested doesn't exist. Verify the product and try again."
NO_SUCH_ENTITY = "No such entity with %fieldName = %fieldValue"
REQUIRED_FIELD = "%fieldName is a required field."
REQUIRED_INPUT = '"%fieldName" is required. Enter and try again.'
INVALID_VALUE = 'Invalid value of "%value" provided for the %fieldName field.'
INVALID_TYPE = 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
TOO_MANY_REQUESTS = "Too Many Requests"
INTERNAL = "Internal Error. Details are available in Magento log file. Report ID: %1"
MAX_PAGE_SIZE = "Maximum SearchCriteria pageSize is %max"
DUPLICATE_EMAIL = "A customer with the same email address already exists in an associated website."


class AdobeError(Exception):
    """One Magento error answer: HTTP status, message template and its parameters."""

    def __init__(self, status: int, message: str, parameters: Any = None, *, errors: list[dict] | None = None,
                 extra: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.parameters = status, message, parameters
        self.errors, self.extra = errors, extra or {}

    def body(self) -> dict:
        body: dict[str, Any] = {"message": self.message}
        if self.parameters is not None:
            body["parameters"] = self.parameters
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def route_not_found() -> AdobeError:
    return AdobeError(404, ROUTE_NOT_FOUND)


def entity_not_found() -> AdobeError:
    return AdobeError(404, ENTITY_NOT_FOUND)


def no_such_entity(field: str, value: Any) -> AdobeError:
    return AdobeError(404, NO_SUCH_ENTITY, {"fieldName": field, "fieldValue": value})


def required_input(field: str) -> AdobeError:
    return AdobeError(400, REQUIRED_INPUT, {"fieldName": field})


def invalid_value(field: str, value: Any) -> AdobeError:
    return AdobeError(400, INVALID_VALUE, {"value": value, "fieldName": field})


def not_authorized(resource: str) -> AdobeError:
    """The 401 every failed token check ends in (reference §A.2.6)."""
    return AdobeError(401, NOT_AUTHORIZED, {"resources": resource})


def internal_error() -> AdobeError:
    """What production mode shows for any unexpected exception (a bad SQL column among them)."""
    return AdobeError(500, INTERNAL, ["webapi-" + secrets.token_hex(6)])


def too_many_requests() -> AdobeError:
    """The backpressure limiter's answer (reference §A.3): note ``trace`` is present and null."""
    return AdobeError(429, TOO_MANY_REQUESTS, extra={"trace": None})
