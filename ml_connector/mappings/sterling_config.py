"""The ``sterling:`` section of a tenant file: our X12 identity and one entry per Intacct vendor
that trades with us through IBM Sterling B2B Integrator (its partner name and the X12 form it
asks for: identifiers, version, separators)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..connectors.x12 import Separators


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SterlingPartnerConfig(_Strict):
    """One Intacct vendor as a Sterling trading partner, and the X12 it wants."""

    partner_name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Sterling partner name (mailbox root).")
    isa_id: str = Field(min_length=1, max_length=15)
    isa_qualifier: str = Field(default="ZZ", min_length=1, max_length=2)
    gs_id: str | None = Field(default=None, max_length=15, description="GS03; defaults to isa_id.")
    version: str | None = Field(default=None, pattern=r"^[0-9]{6}$", description="GS08; defaults to the tenant's.")
    element_separator: str = "*"
    segment_terminator: str = "~"
    component_separator: str = ">"
    repetition_separator: str | None = Field(default=None, description="ISA11 from 4020 on (default ^).")
    email: str | None = None
    phone: str = "0000000000"

    def separators(self, version: str) -> Separators:
        repetition = self.repetition_separator
        if version >= "004020" and repetition is None:
            repetition = "^"
        if version < "004020":
            repetition = None
        return Separators(element=self.element_separator, segment=self.segment_terminator,
                          component=self.component_separator, repetition=repetition)


class SterlingSettings(_Strict):
    """Our side of the X12 exchange and the partners by Intacct VENDORID."""

    isa_id: str = Field(min_length=1, max_length=15)
    isa_qualifier: str = Field(default="ZZ", min_length=1, max_length=2)
    gs_id: str | None = Field(default=None, max_length=15)
    version: str = Field(default="004010", pattern=r"^[0-9]{6}$")
    overdue_after_minutes: float = Field(default=60, ge=0, description="A 997 later than this is overdue.")
    usage: str = Field(default="P", pattern=r"^[PT]$")
    community: str = "ML_COMMUNITY"
    send_bills: bool = True
    send_purchase_orders: bool = True
    partners: dict[str, SterlingPartnerConfig] = {}

    @model_validator(mode="after")
    def _check(self) -> SterlingSettings:
        names = [p.partner_name for p in self.partners.values()]
        if len(set(names)) != len(names):
            raise ValueError("two Intacct vendors map to the same Sterling partner_name")
        for p in self.partners.values():  # fail at load, not at the first delivery
            p.separators(p.version or self.version)
        return self

    def version_for(self, vendor_id: str) -> str:
        return self.partners[vendor_id].version or self.version

    def by_partner_name(self, name: str) -> tuple[str, SterlingPartnerConfig] | None:
        return next(((v, p) for v, p in self.partners.items() if p.partner_name == name), None)
