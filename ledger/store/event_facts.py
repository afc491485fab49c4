"""The event facts index: one row per (event, field key, value) for the EPCIS 2.0 query
parameters no column of `events` answers (EPCIS 2.0 §8.2.7.1), filled at capture in the same
transaction as the event (and by migration 0017 for events stored before it), so that each
parameter is a lookup of the composite indexes (key, text, seq) or (key, num, seq), never a
read of the events' JSON.

Keys (`fact_rows`):
- `action`, `transformationID`, `eventID` (the event's own `eventID` field, as captured),
  `persistentDisposition.set` / `.unset` (bare CBV word or URI, as `EQ_disposition`);
- `bizTransaction.<type>`, `source.<type>`, `destination.<type>`: the type as a bare CBV word
  (`po`, `owning_party`) or the URI of a user vocabulary; the value as written;
- `epcClass` (quantityList and childQuantityList), `inputEPCClass`, `outputEPCClass`: the
  class in the store's canonical EPC form (as `event_epcs`);
- `quantity`: one row per QuantityElement with a numeric quantity, the number in `num`, its
  `uom` (or nothing) in `text`;
- `ilmd:<name>`, `ext:<name>` (a top-level extension field: a name with a namespace prefix,
  `example:myField`, as written in the event), and `inner_ilmd:<name>` / `inner:<name>` for the
  named fields nested at any depth inside those. A string value is `text` (and, when it is an
  ISO 8601 date-time with a zone, also `num` in epoch milliseconds: GT_/LT_ compare times); a
  number is `num`; a boolean `text` `true`/`false`; a list gives one row per element; an object
  or a null one row with neither, so EXISTS_ finds it;
- `readPoint:<name>`, `bizLocation:<name>`: the extension fields of the event's readPoint and
  bizLocation objects (beside their `id`: `{"id": …, "example:dock": "D7"}`, or
  `<readPoint><id>…</id><example:dock>D7</example:dock>` in XML), and `inner_readPoint:<name>`
  / `inner_bizLocation:<name>` for the named fields nested at any depth inside those, the
  values kept as the event's own extension fields' are (`EQ_[INNER_]readPoint_<field>`, migration
  0024);
- `has:<field>`: the event has this standard top-level field (EXISTS_<field>), for every field
  but the ones every event has (`type`, `eventTime`, `eventTimeZoneOffset`) and the ones
  another index answers (`COLUMN_BACKED`: bizStep, disposition, readPoint, bizLocation,
  action).
A text longer than `TEXT_LIMIT` is kept as a row with no text (EXISTS_ finds the field, EQ_
cannot); a key longer than `KEY_LIMIT` is not indexed.

Two more sources write rows of the same form under keys of their own, so that their parameters
read the same two indexes: the sensor fields of `sensorElementList`
(`ledger.store.sensor_index.sensor_facts`, keys `sensor.<field>` and
`[inner_]sensorelement:` / `sensormetadata:` / `sensorreport:<name>`), and the extension fields
of an event's error declaration (`declaration_facts`: `decl:<name>` and `inner_decl:<name>`,
written under the declared event's seq when the declaration is stored); and the attributes the
event's own signed master data (`zhenzhi:masterData`, `ledger.epcis.master_data`) gives its
readPoint and bizLocation (`master_data_facts`: `attr.readPoint.<attribute>` with each value,
`hasattr.readPoint` with each attribute's name; bizLocation alike) and the parties its
sourceList and destinationList name (`attr.source.<attribute>`, `hasattr.source`; destination
alike, migration 0026), for HASATTR_ and EQ_ATTR_;
the names of the attributes it gives the vocabulary element an extension field names
(`hasattr.<prefix:field>`, the field's value a URI or a list of them: `zhenzhi:seller`'s
party), for `HASATTR_<prefix:field>` (migration 0024); and the readPoint's and bizLocation's
ancestors in the hierarchy that master data declares (an element's `children`:
`within.readPoint` / `within.bizLocation` with each ancestor), for WD_ (migration 0023).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.epcis.document import event_epcs
from ledger.epcis.master_data import MASTER_DATA

__all__ = ["COLUMN_BACKED", "KEY_LIMIT", "LOCATION_FIELDS", "MASTER_DATA_FIELDS", "TEXT_LIMIT",
           "FactFilter", "ancestors", "bare_party_type", "bare_transaction_type",
           "declaration_facts", "extension_rows", "fact_rows", "master_data_facts", "time_ms"]

KEY_LIMIT = 256
TEXT_LIMIT = 512
# Fields every event has (an EXISTS_ on them needs no index), and fields whose presence an
# index already says (`events` columns with partial indexes, the `action` fact): a `has:` row
# for them would only cost writes, five of a journey event's twelve facts.
_ALWAYS = frozenset({"type", "eventTime", "eventTimeZoneOffset", "@context"})
COLUMN_BACKED = frozenset({"bizStep", "disposition", "readPoint", "bizLocation", "action"})
_NO_HAS = _ALWAYS | COLUMN_BACKED
_BTT_PREFIXES = ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-",
                 "http://ref.gs1.org/cbv/BTT-", "https://gs1.org/voc/BTT-", "gs1:BTT-",
                 "cbv:BTT-")
_SDT_PREFIXES = ("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-",
                 "http://ref.gs1.org/cbv/SDT-", "https://gs1.org/voc/SDT-", "gs1:SDT-",
                 "cbv:SDT-")
# The standard fields whose object holds extension fields of its own beside its `id`
# (`{"id": …, "example:dock": …}`), which `EQ_[INNER_]readPoint_<field>` and
# `EQ_[INNER_]bizLocation_<field>` look at (EPCIS 2.0 §8.2.7.1).
LOCATION_FIELDS = ("readPoint", "bizLocation")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList",
                   "outputQuantityList")

Fact = tuple[str, str | None, float | None]


def _bare(value: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


def bare_transaction_type(value: str) -> str:
    """A CBV business transaction type as its bare word (`po`); a user type unchanged."""
    return _bare(value, _BTT_PREFIXES)


def bare_party_type(value: str) -> str:
    """A CBV source/destination type as its bare word (`owning_party`); a user type unchanged."""
    return _bare(value, _SDT_PREFIXES)


def time_ms(value: str) -> float | None:
    """An ISO 8601 date-time with a zone as epoch milliseconds; None for anything else."""
    if len(value) < 16 or not value[:4].isdigit() or value[4] != "-" or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return float(round(parsed.timestamp() * 1000))


def _text(value: str) -> str | None:
    return value if len(value) <= TEXT_LIMIT else None


def _values(key: str, value: Any, out: list[Fact], inner: str | None) -> None:
    """Rows of `key` for `value`; named fields nested in an object under `inner`."""
    if len(key) > KEY_LIMIT:
        return
    if isinstance(value, bool):
        out.append((key, "true" if value else "false", None))
    elif isinstance(value, int | float):
        num = float(value)
        out.append((key, None, num if math.isfinite(num) else None))
    elif isinstance(value, str):
        out.append((key, _text(value), time_ms(value)))
    elif isinstance(value, list):
        if not value:
            out.append((key, None, None))
        for item in value:
            _values(key, item, out, inner)
    else:
        out.append((key, None, None))
        if isinstance(value, Mapping) and inner is not None:
            _nested(value, out, inner)


def extension_rows(fields: Mapping[str, Any], key: str, inner: str) -> list[Fact]:
    """Rows of the extension fields of `fields` (names with a namespace prefix, `example:x`)
    under `key:<name>`, and of the named fields nested in them under `inner:<name>`."""
    out: list[Fact] = []
    for name, value in fields.items():
        if isinstance(name, str) and ":" in name and not name.startswith("@"):
            _values(f"{key}:{name}", value, out, inner)
    return out


def declaration_facts(declaration: Any) -> list[Fact]:
    """(key, text, num) rows of the extension fields of an `errorDeclaration`
    (`EQ_ERROR_DECLARATION_<field>`, `EQ_INNER_ERROR_DECLARATION_<field>`…), duplicates
    dropped; the declared event's seq goes with them."""
    if not isinstance(declaration, Mapping):
        return []
    return list(dict.fromkeys(extension_rows(declaration, "decl", "inner_decl")))


# The event fields whose vocabulary elements the signed master data describes: the places
# (`readPoint`, `bizLocation`: their `id`) and the parties (`source`, `destination`: the value
# of each entry of `sourceList` / `destinationList`, whatever its type).
MASTER_DATA_FIELDS = ("readPoint", "bizLocation", "source", "destination")
_PARTY_LISTS = {"source": "sourceList", "destination": "destinationList"}


def _field_ids(event: Mapping[str, Any], field: str) -> list[str]:
    """The vocabulary elements `field` of `event` names (`MASTER_DATA_FIELDS`)."""
    if field in _PARTY_LISTS:
        entries = event.get(_PARTY_LISTS[field])
        return [e[field] for e in entries if isinstance(e, Mapping)
                and isinstance(e.get(field), str)] if isinstance(entries, list) else []
    where = event.get(field)
    location = where.get("id") if isinstance(where, Mapping) else None
    return [location] if isinstance(location, str) else []


def _attribute_texts(value: Any) -> list[str]:
    """An attribute's values as text: a string, or each text of a JSON-LD language map."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [v for v in value.values() if isinstance(v, str)]
    return []


# A master data element's `children` (the vocabulary element's own, EPCIS 2.0 §7.2 / the
# header master data's `vocabularyElement.children`) lists its direct descendants; a location's
# ancestors are followed up to this many (a longer list is cut: an event claims what it likes
# in its own master data, but cannot make one capture write unbounded rows).
MAX_ANCESTORS = 32


def _parents(items: list[Any]) -> dict[str, list[str]]:
    """child → the elements that list it among their `children`, in the master data's order."""
    parents: dict[str, list[str]] = {}
    for element in items:
        if not isinstance(element, Mapping) or not isinstance(element.get("id"), str):
            continue
        children = element.get("children")
        for child in children if isinstance(children, list) else ():
            if isinstance(child, str) and child != element["id"]:
                parents.setdefault(child, []).append(element["id"])
    return parents


def ancestors(location: str, parents: Mapping[str, list[str]]) -> list[str]:
    """The direct and indirect ancestors of `location` by `parents` (`_parents`), nearest
    first, each once, `location` itself never (a cycle back to it adds nothing)."""
    out: list[str] = []
    seen = {location}
    level = [location]
    while level and len(out) < MAX_ANCESTORS:
        following = []
        for node in level:
            for parent in parents.get(node, ()):
                if parent not in seen:
                    seen.add(parent)
                    out.append(parent)
                    following.append(parent)
        level = following
    return out[:MAX_ANCESTORS]


def _attributes(element: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """The attributes of a master data element with a value: (name, its texts)."""
    for name, value in element.items():
        texts = _attribute_texts(value)
        if name != "id" and isinstance(name, str) and texts and len(name) <= TEXT_LIMIT:
            yield name, texts


def master_data_facts(event: Mapping[str, Any]) -> list[Fact]:
    """(key, text, num) rows of the attributes `event`'s own signed master data gives its
    readPoint and bizLocation, the names of those it gives the vocabulary elements its
    extension fields name, and the readPoint's and bizLocation's ancestors in its hierarchy
    (`within.<field>`, WD_) (see the module's docstring), duplicates dropped. Only the event's
    own: master data another signer put in another event describes nothing here (a member
    could otherwise rename, or re-parent, the places and parties of everyone's events)."""
    items = event.get(MASTER_DATA)
    if not isinstance(items, list):
        return []
    elements: dict[str, list[Mapping[str, Any]]] = {}
    for element in items:
        if isinstance(element, Mapping) and isinstance(element.get("id"), str):
            elements.setdefault(element["id"], []).append(element)
    out: list[Fact] = []
    parents = _parents(items)
    for field in MASTER_DATA_FIELDS:
        for named in _field_ids(event, field):
            if field in LOCATION_FIELDS:
                out.extend((f"within.{field}", ancestor, None) for ancestor in
                           ancestors(named, parents) if len(ancestor) <= TEXT_LIMIT)
            for element in elements.get(named, ()):
                for name, texts in _attributes(element):
                    key = f"attr.{field}.{name}"
                    if len(key) > KEY_LIMIT:
                        continue
                    out.append((f"hasattr.{field}", name, None))
                    out.extend((key, text, None) for text in texts if len(text) <= TEXT_LIMIT)
    # HASATTR_<prefix:field>: an extension field whose value (a URI, or each of a list of
    # them) is an element the master data describes. An object is no vocabulary element.
    for field, value in event.items():
        key = f"hasattr.{field}"
        if not isinstance(field, str) or ":" not in field or field == MASTER_DATA \
                or field.startswith("@") or len(key) > KEY_LIMIT:
            continue
        for named in value if isinstance(value, list) else (value,):
            for element in elements.get(named, ()) if isinstance(named, str) else ():
                out.extend((key, name, None) for name, _ in _attributes(element))
    return list(dict.fromkeys(out))


def _nested(value: Any, out: list[Fact], inner: str) -> None:
    if isinstance(value, Mapping):
        for name, sub in value.items():
            if isinstance(name, str) and not name.startswith("@") and name != "#text":
                _values(f"{inner}:{name}", sub, out, inner)
    elif isinstance(value, list):
        for item in value:
            _nested(item, out, inner)


def _typed(event: Mapping[str, Any], field: str, key: str, value_name: str,
           bare: Any, out: list[Fact]) -> None:
    items = event.get(field)
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind, value = item.get("type"), item.get(value_name)
        if isinstance(kind, str) and kind and isinstance(value, str):
            name = f"{key}.{bare(kind)}"
            if len(name) <= KEY_LIMIT:
                out.append((name, _text(value), None))


def fact_rows(event: Mapping[str, Any], normalise_cbv: Any = None) -> list[Fact]:
    """(key, text, num) rows of `event` (see the module's docstring), duplicates dropped.
    `normalise_cbv` spells dispositions as the store does (`ledger.store.store.normalise_cbv`)."""
    out: list[Fact] = []
    get = event.get
    for name in event:
        if not isinstance(name, str) or name in _NO_HAS:
            continue
        if ":" in name:
            _values(f"ext:{name}", event[name], out, "inner")
        elif len(name) + 4 <= KEY_LIMIT:
            out.append((f"has:{name}", None, None))
    for field in ("action", "transformationID", "eventID"):
        value = get(field)
        if isinstance(value, str):
            out.append((field, _text(value), None))
    persistent = get("persistentDisposition")
    if isinstance(persistent, Mapping):
        for part in ("set", "unset"):
            values = persistent.get(part)
            for value in values if isinstance(values, list) else ():
                if isinstance(value, str):
                    text = normalise_cbv(value) if normalise_cbv else value
                    out.append((f"persistentDisposition.{part}", _text(text), None))
    _typed(event, "bizTransactionList", "bizTransaction", "bizTransaction",
           bare_transaction_type, out)
    _typed(event, "sourceList", "source", "source", bare_party_type, out)
    _typed(event, "destinationList", "destination", "destination", bare_party_type, out)
    if any(get(k) for k in _QUANTITY_LISTS):
        for key, lists in (("epcClass", ("quantityList", "childQuantityList")),
                           ("inputEPCClass", ("inputQuantityList",)),
                           ("outputEPCClass", ("outputQuantityList",))):
            found: list[Any] = []
            for lst in lists:
                value = get(lst)
                if isinstance(value, list):
                    found.extend(value)
            classes = event_epcs({"quantityList": found})["class"]
            out.extend((key, _text(c), None) for c in classes)
        for lst in _QUANTITY_LISTS:
            listed = get(lst)
            for element in listed if isinstance(listed, list) else ():
                if not isinstance(element, Mapping):
                    continue
                quantity, uom = element.get("quantity"), element.get("uom")
                if isinstance(quantity, int | float) and not isinstance(quantity, bool) \
                        and math.isfinite(float(quantity)):
                    out.append(("quantity", uom if isinstance(uom, str) and uom else None,
                                float(quantity)))
    ilmd = get("ilmd")
    if isinstance(ilmd, Mapping):
        for name, value in ilmd.items():
            if isinstance(name, str) and not name.startswith("@"):
                _values(f"ilmd:{name}", value, out, "inner_ilmd")
    for field in LOCATION_FIELDS:
        where = get(field)
        if isinstance(where, Mapping):
            out.extend(extension_rows(where, field, f"inner_{field}"))
    return list(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class FactFilter:
    """One condition on the facts of an event: some row of `key` whose value compares so.

    `op` is EQ (any of `texts` or `nums`), GT, GE, LT, LE (on `nums[0]`), or EXISTS (a row of
    the key at all). Text and number are both offered for an EQ_ value that reads as a number
    or a date-time (`EQ_ext:size=5` matches the number 5 and the string "5")."""

    key: str
    op: str
    texts: tuple[str, ...] = ()
    nums: tuple[float, ...] = ()
    uom: str | None = None  # quantity: the QuantityElement's uom (`EQ_quantity_KGM`)
