"""Every ``ML_CONNECTOR_*`` environment variable the product reads, in one model.

:class:`Settings` names each variable (the field name, upper-cased, after ``ML_CONNECTOR_``),
its default and what it does; ``docs/settings.md`` carries the table :func:`markdown_table`
makes from it (``python -m ml_connector.settings`` prints it). The accessor functions below
are what the rest of the package calls.

The environment is read on every call, not once at import: the CLI, the demo and the tests
set these variables after the package is imported, and a worker must see what it was started
with. Parsing is cached per distinct set of values, so a call costs a scan of ``os.environ``.

A value that does not parse (``ML_CONNECTOR_INTENT_LEASE=abc``) fails whichever accessor is
called first with :class:`SettingsError`, one line naming every bad variable: a run does not go
on with half its configuration read.

Not in the model, because their names are built from other names: the credentials variables
``ML_CONNECTOR_<SYSTEM>_<FIELD>`` read by ``ml-connector setup`` (ops/setup.py).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "ML_CONNECTOR_"
WEBHOOK_DISPATCH_MODES = ("trigger", "task-worker")


class SettingsError(ValueError):
    """One or more ``ML_CONNECTOR_*`` variables hold a value that does not parse."""


class Settings(BaseSettings):
    """The product's settings, each from ``ML_CONNECTOR_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True)

    # where things are
    workdir: str | None = Field(None, description=(
        "The folder every `ml-connector` command works in (as `--workdir`): `tenants/` and "
        "`.ml-connector/` are found from it. Unset: the current directory."))
    home: str | None = Field(None, json_schema_extra={"shown_default": "`./.ml-connector`"}, description=(
        "The folder of the default SQLite ledger (`ledger.db`) and of the QBO token-refresh lock "
        "files (`locks/`; those fall back to the system temp folder when this is unset)."))
    ledger_url: str | None = Field(None, json_schema_extra={"shown_default": "`sqlite:///$ML_CONNECTOR_HOME/ledger.db`"},
                                   description="The ledger's SQLAlchemy URL, e.g. `postgresql+psycopg://user:pass@host/db`.")
    tenants: str | None = Field(None, json_schema_extra={"shown_default": "`./tenants`, then the shipped examples"},
                                description="The folder of the tenant files (`<tenant>.yaml`), looked in first.")

    # documents and answers
    intent_lease: float = Field(600.0, description=(
        "Seconds an unresolved write intent must age before any run may resolve it, when the run "
        "that wrote it cannot be asked (engine/recovery.py)."))
    max_document_bytes: int = Field(5_000_000, description=(
        "The largest inbound document accepted; larger ones are quarantined unparsed, which keeps "
        "memory bounded per document."))
    max_response_bytes: int = Field(64 * 1024 * 1024, json_schema_extra={"shown_default": "`67108864` (64 MiB)"},
                                    description=(
        "The largest answer read from any system; reading stops past it (`ResponseTooLarge`)."))
    call_deadline: float = Field(300.0, description=(
        "Seconds one HTTP attempt may take in total, body included (httpx's timeout is per read)."))

    # SPS Commerce
    sps_concurrency: int = Field(32, description=(
        "The most SPS requests one task keeps in flight (at least 1). SPS serves one file per "
        "request, so over a WAN the overlap sets the throughput."))
    sps_history_lag: float = Field(330.0, description=(
        "Seconds after an upload, by our clock, that SPS's history is sure to show it (SPS says "
        "up to five minutes; 30 s more for clocks and answer time)."))
    sps_pickup_min: float = Field(0.0, description=(
        "The fewest seconds SPS leaves an uploaded file in `in/` before taking it; a file found "
        "absent sooner than this after an attempt never arrived."))

    # runs
    task_retry_delays: str = Field("5,30,120", description=(
        "Seconds between Prefect task retries of transient failures, comma-separated; their count "
        "is the number of retries. Read when the package is imported."))
    tenant_concurrency: int = Field(2, description="Tenant subflows one fan-out run runs at once (at least 1).")
    full_run_hours: float = Field(6.0, description=(
        "Hours a tenant may go without a real run of an integration before the fan-out runs it "
        "even though nothing seems to have changed."))

    # webhooks
    webhook_dispatch: str = Field("task-worker", description=(
        "How the webhook service hands stored notifications on: `task-worker` (a task run on the "
        "tenant's task worker) or `trigger` (an event that starts the deployment)."))
    webhook_fallback_seconds: float = Field(60.0, description=(
        "Seconds after a hand-over that unfinished notifications wait before the trigger event is "
        "emitted for them."))
    alerts_notify_block: str | None = Field(None, description=(
        "The Prefect notification block `ml-connector setup` points the alert automations at, when "
        "no credentials file is given."))

    @field_validator("task_retry_delays")
    @classmethod
    def _delays_parse(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    float(part)
                except ValueError:
                    raise ValueError(f"{part.strip()[:20]!r} is not a number of seconds") from None
        return value

    @field_validator("webhook_dispatch")
    @classmethod
    def _dispatch_mode(cls, value: str) -> str:
        mode = value.strip().lower() or "task-worker"
        if mode not in WEBHOOK_DISPATCH_MODES:
            raise ValueError(f"must be one of {', '.join(WEBHOOK_DISPATCH_MODES)}")
        return mode


_FIELDS = frozenset(Settings.model_fields)
# Values that may hold a password are never repeated in an error.
_UNECHOED = frozenset({"ledger_url"})


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def current() -> Settings:
    """The settings as the environment holds them now."""
    # pydantic-settings matches names case-insensitively; the key does the same
    key = tuple(sorted((k, v) for k, v in os.environ.items()
                       if k[:len(PREFIX)].upper() == PREFIX and k[len(PREFIX):].lower() in _FIELDS))
    return _parse(key)


@functools.lru_cache(maxsize=16)
def _parse(key: tuple[tuple[str, str], ...]) -> Settings:
    # Settings() reads os.environ itself; ``key`` is only what the cache is keyed on.
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        message = error["msg"].removeprefix("Value error, ")
        shown = "" if field in _UNECHOED else f"={str(error.get('input', ''))[:40]!r}"
        problems.append(f"{env_name(field)}{shown}: {message[:1].lower()}{message[1:]}")
    return "bad setting: " + "; ".join(problems)


# --- accessors -----------------------------------------------------------------------------


def ledger_url() -> str:
    """The ledger's SQLAlchemy URL: ``ML_CONNECTOR_LEDGER_URL``, else a SQLite file under
    ``./.ml-connector/`` (the working directory of the worker or the CLI)."""
    s = current()
    if s.ledger_url:
        return s.ledger_url
    folder = Path(s.home if s.home is not None else Path.cwd() / ".ml-connector")
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'ledger.db'}"


def home() -> str | None:
    """``ML_CONNECTOR_HOME`` as given, or None."""
    return current().home


def workdir() -> str | None:
    """``ML_CONNECTOR_WORKDIR`` as given, or None."""
    return current().workdir


def tenants_folder() -> str | None:
    """``ML_CONNECTOR_TENANTS`` as given, or None."""
    return current().tenants


def intent_lease_seconds() -> float:
    """How old an unresolved intent must be before any run may resolve it, when the run that
    wrote it cannot be asked (its own state is the faster signal; see engine/recovery.py)."""
    return current().intent_lease


def max_document_bytes() -> int:
    """The largest inbound document accepted (``ML_CONNECTOR_MAX_DOCUMENT_BYTES``, default
    5 MB); larger ones are quarantined unparsed, which keeps memory bounded per document."""
    return current().max_document_bytes


def max_response_bytes() -> int:
    """The largest answer read from any system (``ML_CONNECTOR_MAX_RESPONSE_BYTES``, 64 MiB)."""
    return current().max_response_bytes


def call_deadline() -> float:
    """Seconds one HTTP attempt may take in total (``ML_CONNECTOR_CALL_DEADLINE``, 300)."""
    return current().call_deadline


def sps_concurrency() -> int:
    """The most SPS requests one task keeps in flight (``ML_CONNECTOR_SPS_CONCURRENCY``,
    default 32, at least 1); runtime/io_pool.py runs fewer when the round trip is short. SPS
    serves one file per request and publishes no rate limit, so a page of 500 is 500 downloads
    and 500 deletes: over a WAN the overlap is what sets the throughput. Its 429s are honoured
    by the retry layer."""
    return max(1, current().sps_concurrency)


def sps_history_lag() -> float:
    """Seconds after an upload that SPS's history is sure to show it (``ML_CONNECTOR_SPS_HISTORY_LAG``)."""
    return current().sps_history_lag


def sps_pickup_min() -> float:
    """The fewest seconds SPS leaves an uploaded file in ``in/`` (``ML_CONNECTOR_SPS_PICKUP_MIN``)."""
    return current().sps_pickup_min


def task_retry_delays() -> list[float]:
    """Seconds between Prefect task retries (``ML_CONNECTOR_TASK_RETRY_DELAYS``, ``5,30,120``)."""
    return [float(x) for x in current().task_retry_delays.split(",") if x.strip()]


def tenant_concurrency() -> int:
    """Tenant subflows one fan-out run runs at once (``ML_CONNECTOR_TENANT_CONCURRENCY``, 2, at least 1)."""
    return max(1, current().tenant_concurrency)


def full_run_hours() -> float:
    """Hours a tenant may go without a real run of an integration (``ML_CONNECTOR_FULL_RUN_HOURS``, 6)."""
    return current().full_run_hours


def webhook_dispatch() -> str:
    """``ML_CONNECTOR_WEBHOOK_DISPATCH``: ``task-worker`` (default) or ``trigger``."""
    return current().webhook_dispatch


def webhook_fallback_seconds() -> float:
    """``ML_CONNECTOR_WEBHOOK_FALLBACK_SECONDS``: how long after a hand-over unfinished
    notifications wait before the trigger event is emitted for them (default 60)."""
    return current().webhook_fallback_seconds


def alerts_notify_block() -> str | None:
    """``ML_CONNECTOR_ALERTS_NOTIFY_BLOCK`` as given, or None."""
    return current().alerts_notify_block


# --- documentation ---------------------------------------------------------------------------


def markdown_table() -> str:
    """The table of ``docs/settings.md``: variable, default, what it does."""
    rows = ["| Variable | Default | What it does |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if "shown_default" in extra:
            default = str(extra["shown_default"])
        elif info.default is None:
            default = "unset"
        else:
            default = f"`{info.default:g}`" if isinstance(info.default, float) else f"`{info.default}`"
        rows.append(f"| `{env_name(name)}` | {default} | {info.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
