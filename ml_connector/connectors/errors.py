"""The one exception tree of every connector.

    IntegrationError                 anything an external system or a document did wrong
    ├── TransientError               try again later: timeouts, connection errors, 408/429/5xx,
    │   │                            vendor "try again" codes
    │   └── RateLimited              the system asked us to slow down; carries retry_after
    ├── AuthError                    the customer must act: bad or revoked credentials
    ├── RejectedError                the target refused this document: bad data or mapping
    │   ├── DuplicateWrite           the target already applied this write (idempotency key seen)
    │   └── BadDocument              the source document cannot be read or mapped
    │                                (malformed, hostile, unknown partner or item)
    ├── ResponseTooLarge             an answer past the client's size cap (reading stopped);
    │                                we must act (a smaller page), retrying repeats it
    └── NotFound                     the record asked for does not exist

Every error carries system, operation, status, request_id and a redacted excerpt of the body,
and survives pickling: Prefect persists task states with cloudpickle, and an exception whose
``__init__`` takes keyword-only arguments would otherwise fail to unpickle.

``classification`` is what the ledger stores next to the reason, and what decides retries:
transient errors are retried, the others never are (retrying cannot fix them).
"""

from __future__ import annotations

import copyreg
import pickle
from typing import Any


class IntegrationError(Exception):
    """Root of the tree. ``str()`` gives one line with the context an operator needs."""

    classification = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        operation: str = "",
        status: int | None = None,
        request_id: str | None = None,
        body_excerpt: str = "",
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.operation = operation
        self.status = status
        self.request_id = request_id
        self.body_excerpt = body_excerpt
        self.code = code

    def _context(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "operation": self.operation,
            "status": self.status,
            "request_id": self.request_id,
            "body_excerpt": self.body_excerpt,
            "code": self.code,
        }

    def __reduce__(self):  # keep keyword-only context through pickle
        return (_rebuild, (type(self), self.message, self._context(), _picklable(self.__dict__)))

    def __str__(self) -> str:
        parts = [self.message]
        where = "/".join(p for p in (self.system, self.operation) if p)
        if where:
            parts.append(f"[{where}]")
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


def _picklable(state: dict) -> dict:
    # Something outside our control may hang an unpicklable object on an exception (a
    # library's error log, a test tool's annotation); Prefect must still be able to persist
    # the state, so such attributes are kept as their repr instead of failing the pickle.
    kept = {}
    for key, value in state.items():
        try:
            pickle.dumps(value)
            kept[key] = value
        except Exception:
            kept[key] = repr(value)[:200]
    return kept


def _rebuild(cls, message, context, state):
    err = cls.__new__(cls)
    IntegrationError.__init__(err, message, **context)
    err.__dict__.update(state)
    return err


class TransientError(IntegrationError):
    """Worth another try after a pause."""

    classification = "transient"
    retryable = True


class ResponseTooLarge(IntegrationError):
    """A response body past the cap: reading stopped there, so memory stays bounded."""

    classification = "response_too_large"


class RateLimited(TransientError):
    """The system throttled us; ``retry_after`` seconds is its hint (None when it gave none)."""

    classification = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class AuthError(IntegrationError):
    """Credentials are wrong, expired beyond refresh, or lack permission: a person must act."""

    classification = "auth"


class RejectedError(IntegrationError):
    """The target refused this one document; the rest of the batch is unaffected."""

    classification = "rejected"


class DuplicateWrite(RejectedError):
    """The target says this idempotency key was already applied: the write is done, not failed."""

    classification = "duplicate"


class BadDocument(RejectedError):
    """The source document is malformed, hostile or unmappable; it is quarantined, not posted."""

    classification = "bad_document"


class NotFound(IntegrationError):
    """The record does not exist in the system asked."""

    classification = "not_found"


def classify(exc: BaseException) -> str:
    """The classification stored in the ledger for any exception, ours or not."""
    if isinstance(exc, IntegrationError):
        return exc.classification
    return "internal"


def one_line(exc: BaseException) -> str:
    """The error as one line of at most 1000 characters: how a reason is stored and shown."""
    return " ".join(str(exc).split())[:1000]


def is_retryable(exc: BaseException) -> bool:
    """Prefect task retry condition: only transient errors deserve another attempt."""
    return isinstance(exc, TransientError)


def keep_our_pickling() -> None:
    """Make every class of the tree pickle through ``IntegrationError.__reduce__`` again.

    tblib (installed by Dask's ``distributed`` on import) registers a copyreg reducer for every
    exception class that also pickles ``__context__``; ours often carry a third-party error
    there (lxml's, which cannot be pickled), so a failed task could not be persisted. Call this
    after importing anything that installs tblib; it is also run once here."""
    stack: list[type] = [IntegrationError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        copyreg.pickle(cls, _reduce)


def _reduce(err: IntegrationError):
    return err.__reduce__()


keep_our_pickling()
