"""Seeding and inspection of the Intacct sandbox for the Adobe Commerce integrations: entities,
locations, warehouses, items, custom fields, and read-outs of what the gateway created (AR
invoices, payments, adjustments, purchasing and inventory documents, quantities, balances).

Mixed into :class:`~.intacct.IntacctEmulator`; every method takes the emulator's lock. In the
read-outs, ``entity=None`` means every record and ``entity=""`` the top level only.
"""

from __future__ import annotations

from decimal import Decimal

from .inventory import adjust_on_hand, check_new_item, on_hand
from .store import FIELDS, FunctionFailure

# What a multi-entity company must never own at the top level by accident.
TRANSACTIONS = ("APBILL", "ARINVOICE", "ARPYMT", "ARADJUSTMENT", "APADJUSTMENT", "PODOCUMENT", "INVDOCUMENT")


class CommerceViews:
    """Seeding and read-outs; expects ``self.store``, ``self.lock`` and ``self._now()``."""

    # -- seeding -------------------------------------------------------------------------

    def add_entity(self, entity_id: str, name: str | None = None) -> None:
        """Add an entity (a top-level location): the company becomes multi-entity, and AR/AP lines
        then need a LOCATIONID."""
        with self.lock:
            self.store.entities[entity_id] = name or entity_id
            self.store.location_entity[entity_id] = entity_id
            self.store.dimensions["location"].add(entity_id)

    def add_location(self, location_id: str, entity_id: str) -> None:
        """Add a location under an existing entity."""
        with self.lock:
            if entity_id not in self.store.entities:
                raise ValueError(f"unknown entity {entity_id!r}: add_entity first")
            self.store.location_entity[location_id] = entity_id
            self.store.dimensions["location"].add(location_id)

    def add_warehouse(self, warehouse_id: str, location_id: str | None = None) -> None:
        """Add a warehouse; with a location, it belongs to that location's entity."""
        with self.lock:
            entity = self.store.location_entity.get(location_id, "") if location_id else ""
            self.store.warehouses[warehouse_id] = entity

    def add_item(self, item_id: str, name: str, item_type: str = "Inventory", *,
                 on_hand: dict[str, Decimal | int | str] | None = None, entity: str = "") -> str:
        """Add an item (RECORDNO returned; an existing ITEMID is a no-op) and, for an Inventory
        item, its starting quantities per warehouse (``{"WH1": 10}``; warehouses are added)."""
        with self.lock:
            existing = self.store.find("ITEM", item_id)
            if existing is not None:
                return existing["RECORDNO"]
            values = {"ITEMID": item_id, "NAME": name, "ITEMTYPE": item_type}
            try:
                check_new_item(self.store, values)
            except FunctionFailure as exc:
                raise ValueError(str(exc)) from None
            recordno = self.store.insert("ITEM", {**values, "WHENCREATED": self._now().date(),
                                                  "WHENMODIFIED": self._now(), "MEGAENTITYID": entity})
            for warehouse, quantity in (on_hand or {}).items():
                self.store.warehouses.setdefault(warehouse, "")
                adjust_on_hand(self.store, item_id, warehouse, Decimal(str(quantity)), self._now())
            return recordno

    def add_custom_field(self, object_name: str, field_name: str) -> None:
        """Define a custom field on an object (``ARINVOICE``, ``CUSTOMER``, ``PODOCUMENT``...): the
        legacy ``<customfields>`` and generic creates may then set it, and queries may filter on it."""
        object_name = object_name.upper()
        if object_name not in FIELDS:
            raise ValueError(f"unknown object {object_name!r}")
        with self.lock:
            declared = self.store.custom_fields.setdefault(object_name, [])
            if field_name not in declared and field_name not in FIELDS[object_name]:
                declared.append(field_name)
                for record in self.store.records(object_name):
                    record.setdefault(field_name, "")

    def add_ic_definition(self, name: str, effect: int) -> None:
        """An inventory transaction definition: ``effect`` +1 adds to on hand, -1 takes from it."""
        if effect not in (1, -1):
            raise ValueError("effect is +1 or -1")
        with self.lock:
            self.store.ic_definitions[name] = effect

    # -- read-outs -----------------------------------------------------------------------

    def documents(self, object_name: str, entity: str | None = None) -> list[dict]:
        """Records of ``object_name`` with ``controlid``, ``entity``, ``lines`` (money as Decimal)
        and ``total`` (Decimal, TOTALENTERED or TOTAL)."""
        with self.lock:
            out = []
            for record in self.store.records(object_name):
                if entity is not None and record.get("MEGAENTITYID", "") != entity:
                    continue
                key = (object_name, record["RECORDNO"])
                lines = [_money(row) for row in self.store.items.get(key, [])]
                amount = record.get("TOTALENTERED") or record.get("TOTAL") or "0"
                out.append({**record, "controlid": self.store.controlids.get(key),
                            "entity": record.get("MEGAENTITYID", ""), "lines": lines, "total": Decimal(amount)})
            return out

    def ar_invoices(self, entity: str | None = None) -> list[dict]:
        return self.documents("ARINVOICE", entity)

    def ar_payments(self, entity: str | None = None) -> list[dict]:
        return self.documents("ARPYMT", entity)

    def ar_adjustments(self, entity: str | None = None) -> list[dict]:
        return self.documents("ARADJUSTMENT", entity)

    def ap_adjustments(self, entity: str | None = None) -> list[dict]:
        return self.documents("APADJUSTMENT", entity)

    def po_documents(self, entity: str | None = None) -> list[dict]:
        return self.documents("PODOCUMENT", entity)

    def ic_documents(self, entity: str | None = None) -> list[dict]:
        return self.documents("INVDOCUMENT", entity)

    def items(self) -> list[dict]:
        """Every ITEM record (fields as text)."""
        with self.lock:
            return [dict(r) for r in self.store.records("ITEM")]

    def customers(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.store.records("CUSTOMER")]

    def vendors(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.store.records("VENDOR")]

    def on_hand(self, item_id: str, warehouse_id: str) -> Decimal:
        """The quantity on hand of an item in a warehouse (0 when it never moved)."""
        with self.lock:
            return on_hand(self.store, item_id, warehouse_id)

    def inventory(self, entity: str | None = None) -> dict[tuple[str, str], Decimal]:
        """(ITEMID, WAREHOUSEID) -> quantity on hand, for the warehouses of ``entity``."""
        with self.lock:
            return {(r["ITEMID"], r["WAREHOUSEID"]): Decimal(r["QTYONHAND"])
                    for r in self.store.records("ITEMWAREHOUSEINFO")
                    if entity is None or r.get("MEGAENTITYID", "") == entity}

    def customer_balances(self, entity: str | None = None) -> dict[str, Decimal]:
        """CUSTOMERID -> what the customer owes: invoices' TOTALDUE plus adjustments (credit memos
        are negative) minus the unapplied part of payments. Drafts do not count."""
        balances: dict[str, Decimal] = {}
        for object_name, field, sign in (("ARINVOICE", "TOTALDUE", 1), ("ARADJUSTMENT", "TOTALDUE", 1),
                                         ("ARPYMT", "UNAPPLIED", -1)):
            for record in self.documents(object_name, entity):
                if record["STATE"] == "Draft":
                    continue
                customer = record["CUSTOMERID"]
                balances[customer] = balances.get(customer, Decimal("0")) + sign * Decimal(record[field] or "0")
        return balances

    def top_level_writes(self) -> list[tuple[str, str]]:
        """(object, RECORDNO) of every transaction a multi-entity company owns at the top level:
        created in a session without an entity (seeded records included)."""
        with self.lock:
            if not self.store.entities:
                return []
            return [(name, r["RECORDNO"]) for name in TRANSACTIONS for r in self.store.records(name)
                    if not r.get("MEGAENTITYID")]

    def find_by(self, object_name: str, field: str, value: str) -> list[dict]:
        """Records of ``object_name`` whose ``field`` (a custom field too) equals ``value``."""
        with self.lock:
            return [dict(r) for r in self.store.records(object_name) if r.get(field) == value]


def _money(row: dict[str, str]) -> dict:
    out: dict = dict(row)
    for name in ("AMOUNT", "TRX_AMOUNT", "TRX_PAYMENTAMOUNT", "QUANTITY", "PRICE"):
        if row.get(name):
            out[name] = Decimal(row[name])
    return out

