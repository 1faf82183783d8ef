"""The one error tree: pickling with full context, one-line str(), classification, shape."""

from __future__ import annotations

import inspect
import pickle

import cloudpickle
import pytest

from ml_connector.connectors import errors
from ml_connector.connectors.errors import (
    AuthError,
    BadDocument,
    DuplicateWrite,
    IntegrationError,
    NotFound,
    RateLimited,
    RejectedError,
    ResponseTooLarge,
    TransientError,
    classify,
    is_retryable,
)

TREE = [IntegrationError, TransientError, RateLimited, AuthError, RejectedError, DuplicateWrite, BadDocument,
        ResponseTooLarge, NotFound]

CONTEXT = dict(
    system="intacct",
    operation="create_bills",
    status=422,
    request_id="req-7f3a",
    body_excerpt="<errormessage><error><errorno>BL01001973</errorno></error></errormessage>",
    code="BL01001973",
)

FIELDS = ("message", "system", "operation", "status", "request_id", "body_excerpt", "code")

DUMPERS = {
    "pickle": lambda e: pickle.loads(pickle.dumps(e)),
    "pickle-proto0": lambda e: pickle.loads(pickle.dumps(e, protocol=0)),
    "cloudpickle": lambda e: cloudpickle.loads(cloudpickle.dumps(e)),
    "cloudpickle-to-pickle": lambda e: pickle.loads(cloudpickle.dumps(e)),
}


def make(cls, message="vendor V-1 is inactive", **extra):
    if cls is RateLimited:
        return cls(message, retry_after=extra.pop("retry_after", 12.5), **CONTEXT, **extra)
    return cls(message, **CONTEXT, **extra)


def test_tree_lists_every_error_class_of_the_module():
    defined = {
        obj for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, IntegrationError) and obj.__module__ == errors.__name__
    }
    assert defined == set(TREE)


@pytest.mark.parametrize("how", sorted(DUMPERS))
@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_every_error_round_trips_through_pickling_with_its_context(cls, how):
    original = make(cls)
    copy = DUMPERS[how](original)
    assert type(copy) is cls
    for name in FIELDS:
        assert getattr(copy, name) == getattr(original, name), name
    assert copy.args == original.args == ("vendor V-1 is inactive",)
    assert str(copy) == str(original)
    if cls is RateLimited:
        assert copy.retry_after == 12.5


@pytest.mark.parametrize("how", sorted(DUMPERS))
def test_rate_limited_without_a_hint_keeps_retry_after_none(how):
    copy = DUMPERS[how](RateLimited("slow down", system="sps"))
    assert copy.retry_after is None and copy.system == "sps" and copy.status is None


def test_error_with_only_a_message_round_trips_with_empty_context():
    copy = pickle.loads(pickle.dumps(NotFound("no such bill")))
    assert (copy.message, copy.system, copy.operation, copy.status, copy.request_id, copy.body_excerpt, copy.code) == (
        "no such bill", "", "", None, None, "", None)


def test_extra_attributes_set_after_construction_survive_pickling():
    err = RejectedError("bad", system="sps")
    err.document_id = 42
    assert cloudpickle.loads(cloudpickle.dumps(err)).document_id == 42


def test_pickled_error_can_still_be_raised_and_caught_by_its_base():
    copy = pickle.loads(pickle.dumps(make(DuplicateWrite)))
    with pytest.raises(RejectedError) as info:
        raise copy
    assert info.value.code == "BL01001973"


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_str_is_one_line_with_the_context(cls):
    text = str(make(cls))
    assert "\n" not in text
    assert text == "vendor V-1 is inactive [intacct/create_bills] status=422 code=BL01001973 request_id=req-7f3a"


def test_str_leaves_out_context_that_is_missing():
    assert str(AuthError("bad credentials")) == "bad credentials"
    assert str(AuthError("bad credentials", system="sps")) == "bad credentials [sps]"
    assert str(AuthError("bad credentials", operation="token")) == "bad credentials [token]"
    assert str(TransientError("HTTP 503", system="sps", status=503)) == "HTTP 503 [sps] status=503"


def test_str_does_not_include_the_body_excerpt():
    err = RejectedError("refused", system="sps", body_excerpt="<big body>")
    assert "<big body>" not in str(err)


@pytest.mark.parametrize("cls, classification, retryable", [
    (IntegrationError, "error", False),
    (TransientError, "transient", True),
    (RateLimited, "rate_limited", True),
    (AuthError, "auth", False),
    (RejectedError, "rejected", False),
    (DuplicateWrite, "duplicate", False),
    (BadDocument, "bad_document", False),
    (NotFound, "not_found", False),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_classify_and_is_retryable_for_each_class(cls, classification, retryable):
    err = make(cls)
    assert classify(err) == classification
    assert is_retryable(err) is retryable
    assert err.retryable is retryable
    copy = pickle.loads(pickle.dumps(err))
    assert classify(copy) == classification and is_retryable(copy) is retryable


@pytest.mark.parametrize("exc", [ValueError("boom"), KeyError("x"), RuntimeError(), KeyboardInterrupt()],
                         ids=lambda e: type(e).__name__)
def test_non_integration_exceptions_are_internal_and_never_retried(exc):
    assert classify(exc) == "internal"
    assert is_retryable(exc) is False


def test_tree_shape():
    assert issubclass(DuplicateWrite, RejectedError) and issubclass(BadDocument, RejectedError)
    assert issubclass(RateLimited, TransientError)
    for cls in (TransientError, AuthError, RejectedError, NotFound):
        assert cls.__bases__ == (IntegrationError,)
    assert IntegrationError.__bases__ == (Exception,)
    assert not issubclass(AuthError, TransientError) and not issubclass(NotFound, RejectedError)
    assert not issubclass(RejectedError, TransientError)


def test_rate_limited_defaults_to_no_retry_after():
    assert RateLimited("slow").retry_after is None
    assert RateLimited("slow", retry_after=3).retry_after == 3


def test_an_unpicklable_attribute_does_not_break_pickling():
    import pickle
    import threading

    from ml_connector.connectors.errors import BadDocument

    err = BadDocument("bad", system="sps")
    err.lock = threading.Lock()  # what a library might hang on an exception
    clone = pickle.loads(pickle.dumps(err))
    assert str(clone) == str(err) and isinstance(clone.lock, str)


def test_errors_pickle_even_after_dask_installs_tblib():
    """distributed installs tblib's reducers for all exceptions (chained context included);
    a parse error whose context is lxml's syntax error must still pickle."""
    import pickle

    import ml_connector.flows.backfill  # noqa: F401  (imports distributed, then restores ours)
    from ml_connector.connectors.errors import BadDocument
    from ml_connector.connectors.sps import rsx

    with pytest.raises(BadDocument) as info:
        rsx.parse(b"<Orders>")
    assert info.value.__context__ is not None  # lxml's error, unpicklable, is still chained
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value)
