"""Generic ``<update>`` of master data in the Intacct sandbox: VENDOR, CUSTOMER and ITEM.

An object names its record by ``RECORDNO`` or by its ID field (``VENDORID``, ``CUSTOMERID``,
``ITEMID``); the ID itself is never changed. Only the fields given change (nested contact
fields as ``DISPLAYCONTACT.EMAIL1``...), and WHENMODIFIED moves. An update with several objects
is all-or-nothing here, like the sandbox's create. An unknown record fails the function with the
message the SDK fixtures show ("Cannot update non-existing VENDOR with VENDORID=V99.").
"""

from __future__ import annotations

from lxml import etree

from ...connectors.intacct._xml import DATETIME_FORMAT, sub_fields, to_record
from .store import ID_FIELD, FunctionFailure, Store, flatten

UPDATABLE = ("VENDOR", "CUSTOMER", "ITEM")
_FIXED = frozenset({"RECORDNO", "MEGAENTITYID", "MEGAENTITYNAME", "WHENCREATED", "WHENMODIFIED"})


def update(emulator, body: etree._Element, call) -> etree._Element:
    """Run one ``<update>`` function; returns ``<data listtype="objects">``."""
    store: Store = emulator.store
    objects = [child for child in body if isinstance(child.tag, str)]
    if not objects:
        raise FunctionFailure("update needs at least one object.")
    changed: list[tuple[dict, dict]] = []  # (record, its values before)
    try:
        for element in objects:
            record = _locate(store, element, call.location_id)
            changed.append((record, dict(record)))
            _apply(store, element.tag, record, flatten(to_record(element)), emulator._now().strftime(DATETIME_FORMAT))
    except FunctionFailure:
        _restore(changed)
        raise
    call.undo.append(lambda: _restore(changed))
    data = etree.Element("data", listtype="objects", count=str(len(changed)))
    for element, (record, _) in zip(objects, changed, strict=True):
        id_field = ID_FIELD[element.tag]
        sub_fields(etree.SubElement(data, element.tag.lower()), [("RECORDNO", record["RECORDNO"]),
                                                                  (id_field, record[id_field])])
    return data


def _locate(store: Store, element: etree._Element, entity: str) -> dict[str, str]:
    object_name = element.tag
    if object_name not in UPDATABLE:
        raise FunctionFailure(f"The sandbox cannot update {object_name} with the generic update.",
                              description="Object definition not supported")
    id_field = ID_FIELD[object_name]
    recordno, ident = (element.findtext("RECORDNO") or "").strip(), (element.findtext(id_field) or "").strip()
    visible = store.visible(object_name, entity)
    if recordno:
        found = next((r for r in visible if r["RECORDNO"] == recordno), None)
        key = f"RECORDNO={recordno}"
    else:
        found = next((r for r in visible if ident and r[id_field] == ident), None)
        key = f"{id_field}={ident}"
    if found is None:
        raise FunctionFailure(f"Cannot update non-existing {object_name} with {key}.",
                              correction=f"Give the RECORDNO or {id_field} of an existing record.")
    if recordno and ident and found[id_field] != ident:
        raise FunctionFailure(f"{id_field} cannot be changed ({found[id_field]} -> {ident}).")
    return found


def _apply(store: Store, object_name: str, record: dict[str, str], values: dict[str, str], stamp: str) -> None:
    if "NAME" in values and not values["NAME"]:
        raise FunctionFailure(f"{object_name.title()} Name cannot be empty.")
    known = store.fields(object_name)
    for name, value in values.items():
        if name in known and name not in _FIXED and name != ID_FIELD[object_name]:
            record[name] = value
    record["WHENMODIFIED"] = stamp


def _restore(changed: list[tuple[dict, dict]]) -> None:
    for record, before in reversed(changed):
        record.clear()
        record.update(before)
