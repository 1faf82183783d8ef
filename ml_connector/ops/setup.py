"""``ml-connector setup`` and ``check``: credentials blocks, alert automations, connectivity.

setup reads a tenant's credentials from a YAML file or the environment
(``ML_CONNECTOR_<SYSTEM>_<FIELD>``, e.g. ``ML_CONNECTOR_INTACCT_SENDER_PASSWORD``), saves them
as Prefect blocks ``<tenant>-<system>``, and creates the tenant's automations: two for each
integration its mapping file configures, one for a failed or crashed run and one for absence
(no completed run within three schedule periods), each matching only flow runs tagged
``tenant:<tenant>``. It also creates one automation for the whole server that marks a
deployment run Crashed when its heartbeats stop (a SIGKILLed worker cannot report its run,
which would otherwise stay Running for ever); it is not a tenant's, so there is one.
Running it again replaces what it made for that tenant, and leaves other tenants' alone.
"""

from __future__ import annotations

import logging
import os
import shlex
from datetime import timedelta
from pathlib import Path

import yaml

from ..credentials import BLOCKS, block_name
from ..integrations import INTEGRATIONS

log = logging.getLogger("ml_connector.ops.setup")

AUTOMATION_PREFIX = "ml-connector"
ZOMBIE_AUTOMATION = f"{AUTOMATION_PREFIX}: crash zombie flow runs"
# Three heartbeats of prefect.yaml's PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30 (set on the work pool).
# A run that heartbeats less often (Prefect's default is 180 s) would be crashed while alive,
# which is why the trigger only covers deployment runs of this project's flows.
ZOMBIE_WINDOW = timedelta(seconds=90)


class CredentialsFileError(ValueError):
    """A credentials file that cannot be used, in one line naming the file, the line where
    known, and the key."""


ALERT_KEYS = ("notify_block",)


def read_credentials(path: Path | None, systems: tuple[str, ...] = tuple(BLOCKS)) -> dict:
    """{system: fields} from a YAML file, else from ML_CONNECTOR_<SYSTEM>_<FIELD> variables.
    A broken file (YAML syntax, an unknown system or field, a missing required field) raises
    CredentialsFileError with one line naming the file and the key."""
    if path is not None:
        data = _credentials_file(path)
        return {s: data[s] for s in systems if data.get(s)} | ({"alerts": data["alerts"]} if data.get("alerts") else {})
    found: dict = {}
    for system in systems:
        fields = {}
        for name in BLOCKS[system].model_fields:
            value = os.environ.get(f"ML_CONNECTOR_{system.upper()}_{name.upper()}")
            if value is not None:
                fields[name] = value
        if fields:
            found[system] = fields
    if os.environ.get("ML_CONNECTOR_ALERTS_NOTIFY_BLOCK"):
        found["alerts"] = {"notify_block": os.environ["ML_CONNECTOR_ALERTS_NOTIFY_BLOCK"]}
    return found


def _credentials_file(path: Path) -> dict:
    from pydantic import ValidationError

    shown = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CredentialsFileError(f"{shown}: no such credentials file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsFileError(f"{shown}: cannot read it ({_line(exc)})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        reason = _line(getattr(exc, "problem", None) or exc)
        raise CredentialsFileError(f"{shown}{where}: not valid YAML: {reason}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CredentialsFileError(f"{shown}: expected sections {', '.join(BLOCKS)}, alerts; found {type(data).__name__}")
    allowed = [*BLOCKS, "alerts"]
    for key, section in data.items():
        if key not in allowed:
            raise CredentialsFileError(f"{shown}{_key_line(text, [key])}: unknown key {key!r} "
                                       f"(allowed: {', '.join(allowed)})")
        if section is None:
            continue
        fields = list(BLOCKS[key].model_fields) if key in BLOCKS else list(ALERT_KEYS)
        if not isinstance(section, dict):
            raise CredentialsFileError(f"{shown}{_key_line(text, [key])}: {key}: expected keys {', '.join(fields)}; "
                                       f"found {type(section).__name__}")
        for name in section:
            if name not in fields:
                raise CredentialsFileError(f"{shown}{_key_line(text, [key, name])}: {key}.{name}: unknown key {name!r} "
                                           f"(allowed: {', '.join(fields)})")
        if key in BLOCKS:
            try:
                BLOCKS[key](**section)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(map(str, (key, *first["loc"])))
                what = "required key missing" if first["type"] == "missing" else _line(first["msg"])
                more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
                raise CredentialsFileError(f"{shown}{_key_line(text, [key, *first['loc']])}: {loc}: {what}{more}") from None
    return data


def _key_line(text: str, keys: list) -> str:
    """`` line N`` of the deepest of ``keys`` found in the YAML text, or ''."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return ""
    line = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(((k, v) for k, v in node.value if str(k.value) == str(key)), None)
        if found is None:
            break
        line, node = found[0].start_mark.line + 1, found[1]
    return f" line {line}" if line else ""


def save_verified(tenant: str, credentials: dict, mapping=None, *, verify: bool = True) -> tuple[list[str], list[dict]]:
    """Save the blocks, then (``verify``) sign in to each system with them as ``check`` does;
    if any fails, put back what was there before (the earlier block, or none) and return the
    failures: credentials that do not work are not left saved. Saving first lets every client
    read its block as it does in a run (QuickBooks keeps its rotated token in it)."""
    systems = [s for s in credentials if s in BLOCKS]
    previous = {s: _existing_block(tenant, s) for s in systems} if verify else {}
    saved = save_blocks(tenant, credentials)
    if not verify:
        return saved, []
    failures = [r for r in ping(tenant, systems, mapping) if r["status"] != "connected"]
    if failures:
        for system in systems:
            name = block_name(tenant, system)
            if previous[system] is not None:
                previous[system].save(name, overwrite=True)
            else:
                BLOCKS[system].delete(name)
    return saved, failures


def _existing_block(tenant: str, system: str):
    try:
        return BLOCKS[system].load(block_name(tenant, system))
    except ValueError:  # no such block
        return None


def ping(tenant: str, systems, mapping=None) -> list[dict]:
    """Sign in to each of ``systems`` with the tenant's saved blocks: connected, or why not.
    Opens no ledger (the clients need none)."""
    from ..runtime.tenant import Tenant

    res = Tenant(tenant, mapping, None)
    try:
        return _ping_each(res, systems)
    finally:
        res.close()


def save_blocks(tenant: str, credentials: dict) -> list[str]:
    """Validate and save one block per system given; returns the block names."""
    saved = []
    for system, fields in credentials.items():
        if system not in BLOCKS:
            continue
        name = block_name(tenant, system)
        block = BLOCKS[system](**fields)
        block.save(name, overwrite=True)
        saved.append(name)
        if system == "qbo":  # the company's QBO request limits as Prefect global limits (runtime/qbo_limits.py)
            from ..runtime.qbo_limits import ensure_limits

            ensure_limits(block.realm_id)
    return saved


def _actions(block_id, subject: str, body: str) -> list:
    from prefect.events.actions import DoNothing, SendNotification

    if block_id is None:
        return [DoNothing()]
    return [SendNotification(block_document_id=block_id, subject=subject, body=body)]


def _notify_block_id(notify_block: str | None):
    """The id of the notification block ``<block type>/<name>``, or of the one block named
    ``<name>`` (a block's name is unique within its type only)."""
    if not notify_block:
        return None
    if "/" in notify_block:
        from prefect.blocks.core import Block

        return Block.load(notify_block)._block_document_id
    from prefect.client.orchestration import get_client

    body = {"block_documents": {"name": {"any_": [notify_block]}, "is_anonymous": {"eq_": False}},
            "include_secrets": False}
    with get_client(sync_client=True) as client:
        found = client.request("POST", "/block_documents/filter", json=body).json()
    if len(found) != 1:
        raise ValueError(f"{'no' if not found else len(found)} blocks named {notify_block!r}: "
                         "give alerts.notify_block as <block type>/<name>")
    return found[0]["id"]


def automation_prefix(tenant: str) -> str:
    """What every name of the tenant's automations starts with: a rerun of setup replaces
    exactly these (the trailing ": " keeps tenant acme from matching acme-2)."""
    return f"{AUTOMATION_PREFIX}: {tenant}: "


def tenant_runs(tenant: str, flow_name: str) -> dict:
    """Trigger scope: flow runs of one flow that carry the tenant's tag. Prefect lists a run's
    tags (its own, its flow's and its deployment's) as related resources ``prefect.tag.<tag>``;
    the flow is matched by name because a tenant's run may be a subflow, which has no
    deployment of its own."""
    from ..tasks.ops import tenant_tag

    return {
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": [{"prefect.resource.role": "flow", "prefect.resource.name": flow_name},
                          {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{tenant_tag(tenant)}"}],
    }


# Jinja, rendered by the Prefect server when the automation fires.
_RUN_ID = "{{ event.resource.id | replace('prefect.flow-run.', '') }}"


def _failed(tenant: str, spec, flow_name: str, block_id):
    from prefect.automations import Automation
    from prefect.events.schemas.automations import EventTrigger, Posture

    replay = (f"ml-connector replay --tenant {shlex.quote(tenant)} --integration {spec.name} "
              f"--run-id {_RUN_ID}")
    body = (f"{{{{ event.resource.name }}}} ({{{{ event.event }}}}) of {spec.name} for tenant {tenant}. "
            f"Rerun it from the Prefect UI; after fixing data or mapping, replay its failed documents: {replay}")
    return Automation(
        name=f"{automation_prefix(tenant)}{spec.name} run failed",
        description=(f"A run of {spec.name} for tenant {tenant} failed or crashed. Rerun it from the UI; "
                     "posted documents are not posted again."),
        trigger=EventTrigger(**tenant_runs(tenant, flow_name),
                             expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
                             posture=Posture.Reactive, threshold=1, within=timedelta(0)),
        actions=_actions(block_id, f"{tenant}: {spec.name} run failed", body),
    )


def _absent(tenant: str, spec, flow_name: str, block_id, every: timedelta):
    from prefect.automations import Automation
    from prefect.events.schemas.automations import EventTrigger, Posture

    minutes = round(3 * every.total_seconds() / 60)
    body = (f"No completed run of {spec.name} for tenant {tenant} within {minutes} minutes. "
            f"Where it stands: ml-connector status --tenant {shlex.quote(tenant)}")
    return Automation(
        name=f"{automation_prefix(tenant)}{spec.name} absent",
        description=f"No completed run of {spec.name} for tenant {tenant} within three schedule periods.",
        trigger=EventTrigger(**tenant_runs(tenant, flow_name), expect={"prefect.flow-run.Completed"},
                             posture=Posture.Proactive, threshold=1, within=timedelta(minutes=minutes)),
        actions=_actions(block_id, f"{tenant}: {spec.name} has no completed run", body),
    )


def automations(tenant: str, mapping, notify_block: str | None = None) -> list:
    """The tenant's alert automations (for the integrations its mapping configures) and the
    server's zombie automation, as objects (not yet created)."""
    from ..integrations import configured, load
    from .schedules import period

    block_id = _notify_block_id(notify_block)
    made = []
    for spec in INTEGRATIONS.values():
        if configured(spec, mapping):
            flow_name = load(f"{spec.flow_module}:{spec.flow_name}").name
            made.append(_failed(tenant, spec, flow_name, block_id))
            every = period(spec.deployment)
            if every is None:
                log.warning("%s has no schedule (not in prefect.yaml, not deployed): no 'absent' alert for it",
                            spec.deployment)
            else:
                made.append(_absent(tenant, spec, flow_name, block_id, every))
    return made + [zombie_automation()]


def flow_names() -> list[str]:
    """The names of every flow in ``ml_connector.flows`` (deployed or not, a new one included)."""
    import importlib
    import pkgutil

    from prefect import Flow

    from .. import flows

    names: set[str] = set()
    for module in pkgutil.iter_modules(flows.__path__):
        loaded = importlib.import_module(f"{flows.__name__}.{module.name}")
        names |= {value.name for value in vars(loaded).values() if isinstance(value, Flow)}
    return sorted(names)


def zombie_automation(within: timedelta = ZOMBIE_WINDOW, name: str = ZOMBIE_AUTOMATION):
    """After a run's heartbeat, expect another event of that run within ``within``, else Crashed.

    Scoped to runs of this project's flows that belong to a deployment: heartbeats (Prefect's
    ``prefect.flow-run.heartbeat``) name the flow and the deployment as related resources.
    Ad-hoc runs (the CLI, the demo, tests) heartbeat every 180 s by default and would be
    crashed alive; other projects' runs on the same server are none of our business.
    """
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    seconds = int(within.total_seconds())
    return Automation(
        name=name,
        description=(f"A deployment run of ml-connector sent a heartbeat and then nothing for {seconds} s: "
                     "its process is gone. Marked Crashed, so its concurrency slot is freed and the next "
                     "run settles its unfinished documents at once."),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.*"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=[{"prefect.resource.role": "flow", "prefect.resource.name": flow_names()},
                           {"prefect.resource.role": "deployment"}],
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1, within=within),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"No heartbeat for {seconds} s; the run's process is gone.")],
    )


def create_automations(tenant: str, mapping, notify_block: str | None = None) -> list[str]:
    """Create the tenant's alert automations and the zombie one, replacing what an earlier
    setup of this tenant made (other tenants' stay); returns their names."""
    from prefect.client.orchestration import get_client

    made = automations(tenant, mapping, notify_block)
    with get_client(sync_client=True) as client:
        stale = [a for a in _all_automations(client) if a.name.startswith(automation_prefix(tenant))
                 or a.name in _untenanted_names() or a.name == ZOMBIE_AUTOMATION]
        for old in stale:
            client.delete_automation(old.id)
    for automation in made:
        automation.create()
    return [a.name for a in made]


def _all_automations(client) -> list:
    """Every automation on the server, a page (the server's default limit) at a time."""
    found: list = []
    while batch := client.read_automations(offset=len(found)):
        found += batch
    return found


def _untenanted_names() -> set[str]:
    """Names of alert automations without a tenant: they would fire for every tenant's runs,
    beside the tenant-scoped ones that cover the same runs, so setup removes them."""
    names = set()
    for spec in INTEGRATIONS.values():
        deployment = spec.deployment.split("/", 1)[1]
        names |= {f"{AUTOMATION_PREFIX}: {deployment} run failed", f"{AUTOMATION_PREFIX}: {deployment} absent"}
    return names


def check(tenant: str) -> list[dict]:
    """Authenticate against each system the tenant has credentials for: connected, or why not."""
    from ..integrations import configured
    from ..runtime.tenant import tenant as tenant_resources

    res = tenant_resources(tenant)

    specs = [spec for spec in INTEGRATIONS.values() if configured(spec, res.mapping)]
    return _ping_each(res, sorted({s for spec in specs for s in spec.systems}))


def _ping_each(res, systems) -> list[dict]:
    from ..connectors.errors import IntegrationError

    results = []
    for system in systems:
        try:
            client = getattr(res, system)()
            client.ping()
            results.append({"system": system, "status": "connected"})
        except ValueError as exc:  # no such block
            results.append({"system": system, "status": "not configured", "reason": _line(exc)})
        except IntegrationError as exc:
            results.append({"system": system, "status": "failed", "reason": _line(exc), "class": exc.classification})
        except Exception as exc:  # anything else is still an answer the user needs, in one line
            results.append({"system": system, "status": "failed", "reason": f"{type(exc).__name__}: {_line(exc)}"})
    return results


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
