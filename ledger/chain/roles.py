"""Which Consortium role an organisation must hold to sign an event, by the event's bizStep.

The table is data: `BIZSTEP_ROLES` maps a bizStep (CBV bare word, or a full URI for custom
steps) to the role name; anything not listed needs `DEFAULT_ROLE`. The gateway checks it at
capture time and the verifier checks it again from the chain, so both read this one table.
BizSteps are compared in their bare-word form: `inspecting`, `urn:epcglobal:cbv:bizstep:inspecting`
and `https://ref.gs1.org/cbv/BizStep-inspecting` are the same step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "ADMIN", "ANCHORER", "BIZSTEP_ROLES", "CUSTOMS", "DEFAULT_ROLE", "ENTERPRISE", "REGULATOR",
    "ROLES", "bizstep_name", "required_role", "required_roles",
]

ENTERPRISE = "ENTERPRISE"
CUSTOMS = "CUSTOMS"
REGULATOR = "REGULATOR"
ANCHORER = "ANCHORER"
ADMIN = "ADMIN"
ROLES = (ENTERPRISE, CUSTOMS, REGULATOR, ANCHORER, ADMIN)

# Only customs may say goods were inspected or held at the border: a trader who could sign
# "inspecting" could forge a clean inspection. Everything an enterprise does to its own goods
# (commissioning, packing, shipping, receiving, retail_selling, ...) needs ENTERPRISE.
BIZSTEP_ROLES: Mapping[str, str] = MappingProxyType({
    "inspecting": CUSTOMS,
    "urn:zhenzhi:bizstep:customs_holding": CUSTOMS,
    "urn:zhenzhi:bizstep:customs_releasing": CUSTOMS,
    "urn:zhenzhi:bizstep:regulatory_sampling": REGULATOR,
})
DEFAULT_ROLE = ENTERPRISE

_PREFIXES = (
    "urn:epcglobal:cbv:bizstep:",
    "https://ref.gs1.org/cbv/BizStep-",
    "http://ref.gs1.org/cbv/BizStep-",
    "https://gs1.org/voc/BizStep-",
    "gs1:BizStep-",
    "cbv:BizStep-",
)


def bizstep_name(value: Any) -> str | None:
    """The bare CBV word of a standard bizStep, a custom bizStep unchanged, None if absent."""
    if not isinstance(value, str) or not value:
        return None
    for prefix in _PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


def required_role(event: Mapping[str, Any]) -> str:
    """The role the signer's organisation must hold for this EPCIS event."""
    step = bizstep_name(event.get("bizStep"))
    if step is None:
        return DEFAULT_ROLE
    return BIZSTEP_ROLES.get(step, DEFAULT_ROLE)


def required_roles(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each event's required role, in order."""
    return [required_role(e) for e in events]
