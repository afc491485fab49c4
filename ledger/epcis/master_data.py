"""Master data an organisation signs inside its own events.

EPCIS 2.0 carries master data (names and addresses of locations and parties) in a document's
header, outside the events, so no event hash and no capture signature covers it. Zhenzhi puts
what a shopper is shown about the places and parties an event names into the event itself, as
the user extension `zhenzhi:masterData` (namespace `https://ns.zhenzhi.example/epcis/`): a list
of elements `{"id": <location or party URI>, "name": <text>, "countryCode": <ISO 3166-1
alpha-2>}`, where a text is a string or a JSON-LD language map (`{"en": …, "zh-Hans": …}`),
after the CBV master data attributes `name` and `countryCode`. It is hashed, committed and
signed like any other field, and disclosed whole in a public proof: the signer publishes it
for shoppers, so it holds names and countries only, and where a place sits: an element may list
the places inside it in `children` (a vocabulary element's own field), which `WD_readPoint`/
`WD_bizLocation` queries follow (`ledger.store.event_facts.master_data_facts`).

`zhenzhi:seller` on a retail sale names the party (a URI described by the same master data)
that sold the item to the shopper.
"""

from __future__ import annotations

__all__ = ["MASTER_DATA", "SELLER"]

MASTER_DATA = "zhenzhi:masterData"
SELLER = "zhenzhi:seller"
