"""A cross-border import journey as GS1 EPCIS 2.0 events: New Zealand infant formula, made,
exported, shipped to Nansha (China), cleared by customs, stored in a bonded warehouse and sold
one order at a time by a cross-border e-commerce platform.

The same builder serves three callers:
- `build_journey(seed)`: one small consignment, with its ground truth (lots and what went into
  them, cases, pallets, what was sold) for the demo and for tests that need exact expectations;
- `generate(n_events, seed)`: a stream of EPCIS documents of exactly `n_events` events for the
  benchmarks, fast (a few µs an event), many consignments, the first of which holds
  `RECALL_LOT`, a base-powder lot with more than 10,000 descendant cans, cases and pallets;
- `generate_captures(...)`: the same stream, each document with the organisation that captures
  (and so signs) it: a document is one capture, and a capture has one signer.

Both are deterministic by seed: same seed, same bytes (no set iteration, no wall clock, no
process-salted hashing). Randomness comes from `random.Random(seed)`, which is fine for test
data but not for real serial numbers: a real issuer draws serials from `secrets`.

Identifiers use the GS1 Digital Link form everywhere (`https://id.gs1.org/01/…/21/…` for cans,
`/00/` SSCCs for cases and pallets, `/01/…/10/…` lot classes, `/414/` locations with `/254/`
sub-locations, `/417/` parties, `/253/` documents), since that is what a consumer scans.
Serials are 12 symbols of `ledger.trade.serials.SERIAL_ALPHABET` (the project's subset of GS1 AI 21's
CSET 82: URI-safe, no look-alikes), 57**12 ≈ 2**69.9 possibilities each, above the 64 bits the
threat model asks for, drawn by rejection sampling so every symbol is equally likely.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from ledger.epcis.master_data import MASTER_DATA
from ledger.trade.serials import SERIAL_ALPHABET, entropy_bits

__all__ = [
    "BRAND", "CHILLED_RANGES", "EPCIS_CONTEXT", "MASTER_DATA", "PLACES", "PRODUCT_LABELS", "RECALL_LOT",
    "SELLER_NAMES", "ZHENZHI_NS", "master_data_element", "seller_party", "signer_master_data", "SERIAL_ALPHABET", "SERIAL_BITS", "SERIAL_LENGTH", "Capture", "Container",
    "Journey", "Lot", "LotRef", "Organisation", "Product", "build_journey", "check_digit",
    "generate", "generate_captures", "lot_class", "organisations", "party_id", "products",
    "sgtin", "sscc",
]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# The project's EPCIS extension namespace (`ledger.trade.customs.NAMESPACE`): master data and
# label facts CBV has no attribute for.
ZHENZHI_NS = "https://ns.zhenzhi.example/epcis/"
DL = "https://id.gs1.org"
SERIAL_LENGTH = 12
SERIAL_BITS = entropy_bits(SERIAL_LENGTH)
# Serial symbols from random bytes in C, not a Python loop per symbol: byte b ↦ alphabet[b % 57]
# for the 228 = 4 × 57 lowest byte values, the rest deleted (rejection keeps it uniform).
_ACCEPT = 4 * len(SERIAL_ALPHABET)
_TO_SYMBOL = bytes(ord(SERIAL_ALPHABET[b % len(SERIAL_ALPHABET)]) if b < _ACCEPT else 0
                   for b in range(256))
_REJECT = bytes(range(_ACCEPT, 256))

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The first consignment leaves the Waikato plant on a Monday morning, NZ daylight time.
_START_MS = int((datetime(2025, 3, 2, 20, 0, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)
_MIN = 60_000
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR


# --- GS1 keys -----------------------------------------------------------------------------

def check_digit(digits: str) -> str:
    """GS1 mod-10 check digit of a GTIN/GLN/SSCC/GDTI body (all digits but the last)."""
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"a GS1 key body is digits only, got {digits!r}")
    rev = digits[::-1]
    total = 3 * sum(map(int, rev[0::2])) + sum(map(int, rev[1::2]))
    return str(-total % 10)


def _key(body: str) -> str:
    return body + check_digit(body)


def sgtin(gtin: str, serial: str) -> str:
    return f"{DL}/01/{gtin}/21/{serial}"


def sscc(value: str) -> str:
    return f"{DL}/00/{value}"


def lot_class(gtin: str, lot: str) -> str:
    """The EPC class (LGTIN) of one lot of a product."""
    return f"{DL}/01/{gtin}/10/{lot}"


def party_id(gln: str) -> str:
    return f"{DL}/417/{gln}"


def _location(gln: str, extension: str | None = None) -> str:
    return f"{DL}/414/{gln}" if extension is None else f"{DL}/414/{gln}/254/{extension}"


# --- the world ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Organisation:
    """A consortium member: its party GLN, GS1 company prefix and the sites it reports from."""

    key: str
    name: str
    role: str  # the consortium role it signs with
    country: str  # ISO 3166-1 alpha-2
    company_prefix: str
    site_ref: str  # location reference of its main site under its prefix
    names: tuple[tuple[str, str], ...] = ()  # (language, name) besides `name` (English)

    @property
    def gln(self) -> str:
        """Party GLN (reference 0 under its prefix)."""
        return _key(self.company_prefix + "0" * (12 - len(self.company_prefix)))

    @property
    def id(self) -> str:
        """Party identifier (PGLN, Digital Link)."""
        return party_id(self.gln)

    @property
    def site_gln(self) -> str:
        ref = self.site_ref.rjust(12 - len(self.company_prefix), "0")
        return _key(self.company_prefix + ref)

    @property
    def site(self) -> str:
        """The site as a business location."""
        return _location(self.site_gln)

    def read_point(self, extension: str) -> str:
        """A read point inside the site (GLN extension, AI 254)."""
        return _location(self.site_gln, extension)

    def label(self) -> dict[str, str] | str:
        """The name in every language it has (a JSON-LD language map), or the plain name."""
        return {"en": self.name, **dict(self.names)} if self.names else self.name

    def document(self, doc_type: str, serial: int) -> str:
        """A business document (GDTI) of this organisation: purchase order, despatch advice,
        retail order, commercial invoice, bill of lading."""
        ref = {"po": "1", "desadv": "2", "order": "3", "inv": "4", "bol": "5"}[doc_type]
        gdti = _key(self.company_prefix + ref.rjust(12 - len(self.company_prefix), "0"))
        return f"{DL}/253/{gdti}{serial}"


def organisations() -> dict[str, Organisation]:
    """The six members of the demo consortium, keyed by their part in the journey."""
    orgs = [
        Organisation("manufacturer", "Kōwhai Valley Nutrition Ltd (Waikato)", "ENTERPRISE",
                     "NZ", "9421902", "10", (("zh-Hans", "高槐谷营养有限公司（怀卡托）"),
                                             ("zh-Hant", "高槐谷營養有限公司（懷卡托）"))),
        Organisation("exporter", "Tasman Gateway Exports Ltd (Auckland)", "ENTERPRISE",
                     "NZ", "9425117", "20", (("zh-Hans", "塔斯曼门户出口有限公司（奥克兰）"),
                                             ("zh-Hant", "塔斯曼門戶出口有限公司（奧克蘭）"))),
        Organisation("carrier", "Southern Cross Line Ltd", "ENTERPRISE", "NZ", "9417306", "30",
                     (("zh-Hans", "南十字航运有限公司"), ("zh-Hant", "南十字航運有限公司"))),
        Organisation("customs", "Nansha Customs, Guangzhou Customs District", "CUSTOMS",
                     "CN", "6901408", "40", (("zh-Hans", "广州海关隶属南沙海关"),
                                             ("zh-Hant", "廣州海關隸屬南沙海關"))),
        Organisation("warehouse", "Nansha Bonded Logistics Park Warehouse Co", "ENTERPRISE",
                     "CN", "6934550", "50", (("zh-Hans", "南沙保税物流园区仓储有限公司"),
                                             ("zh-Hant", "南沙保稅物流園區倉儲有限公司"))),
        Organisation("platform", "Haitao Direct Cross-border Mall", "ENTERPRISE",
                     "CN", "6972088", "60", (("zh-Hans", "海淘直达跨境商城"),
                                             ("zh-Hant", "海淘直達跨境商城"))),
    ]
    return {o.key: o for o in orgs}


def _names(en: str, hans: str, hant: str) -> dict[str, str]:
    return {"en": en, "zh-Hans": hans, "zh-Hant": hant}


# Location master data each organisation signs for its sites ("") and read points (GLN
# extensions): a name in three languages and the country (ISO 3166-1 alpha-2).
PLACES: dict[tuple[str, str], tuple[dict[str, str], str]] = {
    ("manufacturer", ""): (_names("Kōwhai Valley plant, Te Awamutu, Waikato",
                                  "高槐谷工厂（怀卡托 蒂阿瓦穆图）",
                                  "高槐谷工廠（懷卡托 蒂阿瓦穆圖）"), "NZ"),
    ("manufacturer", "dryer"): (_names("Spray dryer, Kōwhai Valley plant", "高槐谷工厂喷雾干燥塔",
                                       "高槐谷工廠噴霧乾燥塔"), "NZ"),
    ("manufacturer", "blender"): (_names("Blending hall, Kōwhai Valley plant",
                                         "高槐谷工厂配料车间", "高槐谷工廠配料車間"), "NZ"),
    ("manufacturer", "canning-line"): (_names("Canning line, Kōwhai Valley plant",
                                              "高槐谷工厂灌装线", "高槐谷工廠灌裝線"), "NZ"),
    ("manufacturer", "case-packer"): (_names("Case packer, Kōwhai Valley plant",
                                             "高槐谷工厂装箱机", "高槐谷工廠裝箱機"), "NZ"),
    ("manufacturer", "palletiser"): (_names("Palletiser, Kōwhai Valley plant",
                                            "高槐谷工厂码垛机", "高槐谷工廠碼垛機"), "NZ"),
    ("manufacturer", "separator"): (_names("Cream separator, Kōwhai Valley plant",
                                           "高槐谷工厂奶油分离机", "高槐谷工廠奶油分離機"), "NZ"),
    ("manufacturer", "churn"): (_names("Butter churn, Kōwhai Valley plant", "高槐谷工厂黄油搅拌机",
                                       "高槐谷工廠黃油攪拌機"), "NZ"),
    ("manufacturer", "wrapping-line"): (_names("Butter wrapping line, Kōwhai Valley plant",
                                               "高槐谷工厂黄油包装线", "高槐谷工廠黃油包裝線"), "NZ"),
    ("manufacturer", "dispatch-dock"): (_names("Dispatch dock, Kōwhai Valley plant",
                                               "高槐谷工厂发货码头", "高槐谷工廠發貨碼頭"), "NZ"),
    ("exporter", ""): (_names("Tasman Gateway export warehouse, Auckland",
                              "塔斯曼门户出口仓库（奥克兰）", "塔斯曼門戶出口倉庫（奧克蘭）"), "NZ"),
    ("exporter", "dock"): (_names("Loading dock, Tasman Gateway warehouse, Auckland",
                                  "塔斯曼门户仓库装货码头（奥克兰）",
                                  "塔斯曼門戶倉庫裝貨碼頭（奧克蘭）"), "NZ"),
    ("carrier", ""): (_names("Southern Cross Line terminal, Tauranga", "南十字航运陶朗加码头",
                             "南十字航運陶朗加碼頭"), "NZ"),
    ("carrier", "tauranga-berth"): (_names("Port of Tauranga, Sulphur Point berth",
                                           "陶朗加港硫磺角泊位", "陶朗加港硫磺角泊位"), "NZ"),
    ("carrier", "vessel"): (_names("MV Southern Cross Navigator (voyage SCL-25N)",
                                   "“南十字领航者”号（航次 SCL-25N）",
                                   "「南十字領航者」號（航次 SCL-25N）"), "NZ"),
    ("carrier", "nansha-berth"): (_names("Nansha Port, Guangzhou", "广州南沙港", "廣州南沙港"),
                                  "CN"),
    ("customs", ""): (_names("Nansha Customs, Guangzhou", "广州南沙海关", "廣州南沙海關"), "CN"),
    ("customs", "inspection-yard"): (_names("Nansha Customs inspection yard",
                                            "南沙海关查验场", "南沙海關查驗場"), "CN"),
    ("customs", "sampling-bench"): (_names("Nansha Customs sampling laboratory",
                                           "南沙海关取样实验室", "南沙海關取樣實驗室"), "CN"),
    ("warehouse", ""): (_names("Nansha Bonded Logistics Park warehouse, Guangzhou",
                               "广州南沙保税物流园区仓库", "廣州南沙保稅物流園區倉庫"), "CN"),
    ("warehouse", "inbound-dock"): (_names("Inbound dock, Nansha bonded warehouse",
                                           "南沙保税仓收货码头", "南沙保稅倉收貨碼頭"), "CN"),
    ("warehouse", "breakdown-area"): (_names("Breakdown area, Nansha bonded warehouse",
                                             "南沙保税仓拆托区", "南沙保稅倉拆托區"), "CN"),
    ("warehouse", "pick-face"): (_names("Pick face, Nansha bonded warehouse",
                                        "南沙保税仓拣货区", "南沙保稅倉揀貨區"), "CN"),
    ("platform", ""): (_names("Haitao Direct fulfilment centre, Nansha bonded zone",
                              "海淘直达南沙保税区履约中心", "海淘直達南沙保稅區履約中心"), "CN"),
    ("platform", "pick-station"): (_names("Haitao Direct pick station, Nansha bonded zone",
                                          "海淘直达南沙保税区拣货台", "海淘直達南沙保稅區揀貨台"),
                                   "CN"),
    ("platform", "customs-desk"): (_names("Haitao Direct customs declaration desk, Nansha",
                                          "海淘直达南沙报关台", "海淘直達南沙報關台"), "CN"),
}

# The store that sells the platform's own stock to shoppers (a party under its prefix).
SELLER_NAMES = _names("Haitao Direct self-operated store", "海淘直达自营店", "海淘直達自營店")
BRAND = _names("Kōwhai Valley", "高槐谷", "高槐谷")
# Label facts of each serialised product, signed with each lot: its name in three languages
# and its product record number (备案号, as filed for cross-border retail import).
PRODUCT_LABELS: dict[str, tuple[dict[str, str], str]] = {
    "stage1": (_names("Kōwhai Stage 1 Infant Formula 900 g", "高槐谷 1段 婴儿配方奶粉 900克",
                      "高槐谷 1段 嬰兒配方奶粉 900克"), "CBEC-NS-2025-19011001"),
    "stage2": (_names("Kōwhai Stage 2 Follow-on Formula 900 g",
                      "高槐谷 2段 较大婴儿配方奶粉 900克", "高槐谷 2段 較大嬰兒配方奶粉 900克"),
               "CBEC-NS-2025-19011002"),
    "butter": (_names("Kōwhai Chilled Cultured Butter 250 g", "高槐谷 冷藏发酵黄油 250克",
                      "高槐谷 冷藏發酵黃油 250克"), "CBEC-NS-2025-04051003"),
}
# Where each product is made and labelled (read points of the plant), how it is lot-coded and
# how long it keeps (days); spray-dried powder and canned formula unless named here.
_MAKING: dict[str, tuple[str, str, str, int]] = {
    "wmp": ("dryer", "", "WM", 730), "wpc": ("dryer", "", "WP", 730),
    "cream": ("separator", "", "CR", 10),
    "stage1": ("blender", "canning-line", "F1", 540),
    "stage2": ("blender", "canning-line", "F2", 540),
    "butter": ("churn", "wrapping-line", "BU", 120),
}
# The chilled product's journey: its reefer container keeps it at 2-3.5 °C, logging hourly
# (a `sensorElementList` on the carrier's voyage events); the brand signs 0-4 °C with an hour
# allowed outside (`ledger.trade.conditions`).
CHILLED_RANGES: list[dict[str, Any]] = [
    {"type": "Temperature", "uom": "CEL", "min": 0, "max": 4, "allowedMinutesOutside": 60}]


def seller_party(platform: Organisation) -> str:
    """The party id of the platform's self-operated store (GLN reference 7 under its prefix)."""
    return party_id(_key(platform.company_prefix + "7".rjust(12 - len(platform.company_prefix),
                                                            "0")))


def master_data_element(identifier: str, name: dict[str, str] | str, country: str
                        ) -> dict[str, Any]:
    """One element of an event's signed master data (`MASTER_DATA`)."""
    return {"id": identifier, "name": name, "countryCode": country}


def signer_master_data(org: Organisation, read_point: str | None = None) -> list[dict[str, Any]]:
    """The master data `org` signs into an event it reports at `read_point` (a GLN extension of
    its site): that place, and itself."""
    out = []
    if read_point is not None:
        name, country = PLACES.get((org.key, read_point), (org.label(), org.country))
        out.append(master_data_element(org.read_point(read_point), name, country))
    out.append(master_data_element(org.id, org.label(), org.country))
    return out


@dataclass(frozen=True, slots=True)
class Product:
    key: str
    name: str
    gtin: str  # GTIN-14
    unit: str  # "KGM" for bulk base powder, "EA" for cans


def products(manufacturer: Organisation | None = None) -> dict[str, Product]:
    """The manufacturer's products: GTINs under its own company prefix."""
    prefix = (manufacturer or organisations()["manufacturer"]).company_prefix

    def gtin(item_ref: str) -> str:
        return _key("0" + prefix + item_ref.rjust(12 - len(prefix), "0"))

    items = [
        Product("wmp", "Whole milk powder, infant formula base", gtin("10001"), "KGM"),
        Product("wpc", "Whey protein concentrate 80, infant formula base", gtin("10002"), "KGM"),
        Product("stage1", "Kōwhai Stage 1 Infant Formula 900 g", gtin("20001"), "EA"),
        Product("stage2", "Kōwhai Stage 2 Follow-on Formula 900 g", gtin("20002"), "EA"),
        Product("cream", "Fresh cream 40% fat, butter base", gtin("10003"), "KGM"),
        Product("butter", "Kōwhai Chilled Cultured Butter 250 g", gtin("20003"), "EA"),
    ]
    return {p.key: p for p in items}


@dataclass(frozen=True, slots=True, order=True)
class LotRef:
    gtin: str
    lot: str

    @property
    def epc_class(self) -> str:
        return lot_class(self.gtin, self.lot)


@dataclass(frozen=True, slots=True)
class Lot:
    """A lot and its ground truth: the lots it was made from and the cans commissioned in it."""

    ref: LotRef
    product: str  # Product.key
    inputs: tuple[LotRef, ...]  # consumed by the TransformationEvent that made it; () for bases
    items: tuple[str, ...]  # EPCs of the cans commissioned in this lot


@dataclass(frozen=True, slots=True)
class Container:
    """A case (cans inside) or a pallet (cases inside), as packed and unpacked."""

    epc: str
    kind: str  # "case" | "pallet"
    children: tuple[str, ...]
    packed_at: str  # eventTime of the packing AggregationEvent
    unpacked_at: str | None  # eventTime of the unpacking one, if it was unpacked


@dataclass(frozen=True, slots=True)
class Capture:
    """One EPCIS document and the organisation that captures (signs) it."""

    org: Organisation
    document: dict[str, Any]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.document["epcisBody"]["eventList"]


@dataclass(frozen=True, slots=True)
class Journey:
    """One consignment from the Waikato plant to Chinese consumers, and its ground truth."""

    seed: int
    organisations: dict[str, Organisation]
    products: dict[str, Product]
    lots: tuple[Lot, ...]
    containers: tuple[Container, ...]
    sold: dict[str, str]  # can EPC → eventTime of its retail_selling event
    captures: tuple[Capture, ...]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event, in capture order."""
        return [e for c in self.captures for e in c.events]

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [c.document for c in self.captures]

    def lot(self, ref: LotRef) -> Lot:
        return next(lot for lot in self.lots if lot.ref == ref)


# --- the builder --------------------------------------------------------------------------

def _iso(ms: int) -> str:
    """UTC time with milliseconds and a Z; `eventTimeZoneOffset` carries the local offset."""
    day, rest = divmod(ms, _DAY)
    hour, rest = divmod(rest, _HOUR)
    minute, rest = divmod(rest, _MIN)
    return f"{_day_prefix(day)}{hour:02d}:{minute:02d}:{rest // 1000:02d}.{rest % 1000:03d}Z"


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    # strftime would be most of the cost of a timestamp; only the date part needs the calendar
    return f"{_EPOCH + timedelta(days=day):%Y-%m-%dT}"


def _nz_offset(ms: int) -> str:
    """New Zealand's UTC offset at an instant: daylight time (+13:00) from the last Sunday of
    September to the first Sunday of April, both switching at 14:00 UTC the Saturday before."""
    return _nz_offset_hour(ms // _HOUR)


@lru_cache(maxsize=1024)
def _nz_offset_hour(hour: int) -> str:
    ms = hour * _HOUR
    d = (_EPOCH + timedelta(milliseconds=ms)).date()
    year = d.year

    def switch(month: int, week: str) -> date:
        if week == "first":
            first = date(year, month, 1)
            sunday = first + timedelta(days=(6 - first.weekday()) % 7)
        else:
            last = date(year, month, 30)
            sunday = last - timedelta(days=(last.weekday() + 1) % 7)
        return sunday - timedelta(days=1)  # the Saturday, 14:00 UTC

    def instant(day: date) -> int:
        dt = datetime(day.year, day.month, day.day, 14, tzinfo=UTC)
        return int((dt - _EPOCH).total_seconds() * 1000)

    dst_end, dst_start = instant(switch(4, "first")), instant(switch(9, "last"))
    return "+12:00" if dst_end <= ms < dst_start else "+13:00"


_CN_OFFSET = "+08:00"  # China keeps no daylight time

_CASE_SIZE = 6  # 900 g cans a case
_PALLET_SIZE = 50  # cases a pallet
_COMMISSION_BATCH = 60  # cans labelled in one pass of the canning line: one event


class _Full(Exception):
    """The event budget of a bulk run is spent."""


@dataclass
class _Sink:
    """Per-organisation buffers that become documents of `size` events."""

    size: int
    budget: int | None
    rng: random.Random
    orgs: dict[str, Organisation]
    buffers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ready: list[Capture] = field(default_factory=list)
    count: int = 0
    context: list[Any] = field(default_factory=lambda: [EPCIS_CONTEXT])

    def emit(self, org: str, event: dict[str, Any]) -> None:
        if self.budget is not None and self.count >= self.budget:
            raise _Full
        self.count += 1
        buf = self.buffers.setdefault(org, [])
        buf.append(event)
        if len(buf) >= self.size:
            self.flush(org)

    def flush(self, org: str) -> None:
        events = self.buffers.pop(org, None)
        if not events:
            return
        creation = max(e["eventTime"] for e in events)
        self.ready.append(Capture(self.orgs[org], {
            "@context": list(self.context),
            "id": uuid.UUID(int=self.rng.getrandbits(128), version=4).urn,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": creation,
            "sender": self.orgs[org].id,
            "epcisBody": {"eventList": events},
        }))

    def flush_all(self) -> None:
        # oldest first, so that a replay of the captures follows the goods
        for org in sorted(self.buffers, key=lambda o: (self.buffers[o][0]["eventTime"], o)):
            self.flush(org)

    def take(self) -> list[Capture]:
        out, self.ready = self.ready, []
        return out


@dataclass
class _Truth:
    lots: list[Lot] = field(default_factory=list)
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sold: dict[str, str] = field(default_factory=dict)


@dataclass
class _FinishedLotPlan:
    product: str
    cans: int
    inputs: tuple[tuple[str, float], ...]  # (base lot key in the consignment, kg per can)


class _Builder:
    """Writes the events of consignments into a sink; keeps ground truth when asked."""

    def __init__(self, sink: _Sink, truth: _Truth | None, master_data: bool = False) -> None:
        self.rng = sink.rng
        # Signed master data (place and party names, label facts) in every event: what a
        # shopper's page shows. The bulk streams for the benchmarks leave it out.
        self.master_data = master_data
        if master_data:
            sink.context = [EPCIS_CONTEXT, {"zhenzhi": ZHENZHI_NS}]
        self._md: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
        self.sink = sink
        self.truth = truth
        self.orgs = sink.orgs
        self.products = products(self.orgs["manufacturer"])
        # SSCC serial references start at a seed-dependent offset so runs with different
        # seeds do not reuse container codes if they ever share a store.
        self._sscc_next = self.rng.randrange(10**8)
        self._lot_seq: dict[str, int] = {}
        self._doc_seq = 0
        self._kids: dict[str, list[str]] = {}  # containers packed and not yet unpacked
        self._ids: dict[tuple[str, str], str] = {}
        self.reefer: int | None = None  # a chilled consignment: hours of breach in its log

    # identifiers
    def serials(self, n: int) -> list[str]:
        need = SERIAL_LENGTH * n
        symbols = b""
        while len(symbols) < need:
            # ~11% of bytes are rejected: draw a little more than needed, top up if short
            raw = self.rng.randbytes((need - len(symbols)) * 5 // 4 + 16)
            symbols += raw.translate(_TO_SYMBOL, _REJECT)
        text = symbols[:need].decode("ascii")
        return [text[i:i + SERIAL_LENGTH] for i in range(0, need, SERIAL_LENGTH)]

    def sscc(self, extension: str) -> str:
        self._sscc_next += 1
        prefix = self.orgs["manufacturer"].company_prefix
        body = extension + prefix + str(self._sscc_next).rjust(16 - len(prefix), "0")
        return sscc(_key(body))

    def lot_number(self, code: str, ms: int) -> str:
        n = self._lot_seq[code] = self._lot_seq.get(code, 0) + 1
        return f"{code}{_iso(ms)[2:10].replace('-', '')}-{n:05d}"

    def doc(self, org: str, kind: str) -> str:
        self._doc_seq += 1
        key = (org, "doc:" + kind)
        if (base := self._ids.get(key)) is None:
            base = self._ids[key] = self.orgs[org].document(kind, 0)[:-1]
        return base + str(self._doc_seq)

    def jitter(self, ms: int) -> int:
        return self.rng.randrange(ms)

    # event shapes
    def _event(self, etype: str, ms: int, offset: str, org: str, read_point: str, step: str,
               disposition: str, action: str | None = None,
               what: dict[str, Any] | None = None, located: bool = True) -> dict[str, Any]:
        """An event in the key order of the GS1 examples: time, what, why, where. In-transit
        events (`located=False`) have a read point but no business location, as CBV advises."""
        ev: dict[str, Any] = {"type": etype, "eventTime": _iso(ms), "eventTimeZoneOffset": offset}
        if what:
            ev.update(what)
        if action is not None:
            ev["action"] = action
        ev["bizStep"] = step
        ev["disposition"] = disposition
        ev["readPoint"] = {"id": self._read_point(org, read_point)}
        if located:
            ev["bizLocation"] = {"id": self._site(org)}
        if self.master_data:
            ev[MASTER_DATA] = [dict(el) for el in self._master(org, read_point, located)]
        return ev

    def _master(self, org: str, read_point: str, located: bool) -> list[dict[str, Any]]:
        """The signer's master data for the places its event names, and for itself."""
        key = (org, read_point, located)
        if (found := self._md.get(key)) is None:
            o = self.orgs[org]
            found = []
            for ext, where in ((read_point, self._read_point(org, read_point)),
                               *((("", self._site(org)),) if located else ())):
                name, country = PLACES.get((org, ext), (o.label(), o.country))
                found.append(master_data_element(where, name, country))
            found.append(master_data_element(o.id, o.label(), o.country))
            self._md[key] = found
        return found

    # GLN and GDTI check digits cost microseconds each: compute each identifier once a run
    def _read_point(self, org: str, extension: str) -> str:
        key = (org, extension)
        if (v := self._ids.get(key)) is None:
            v = self._ids[key] = self.orgs[org].read_point(extension)
        return v

    def _site(self, org: str) -> str:
        key = (org, "")
        if (v := self._ids.get(key)) is None:
            v = self._ids[key] = self.orgs[org].site
        return v

    def _ilmd(self, lot: str, made_ms: int, shelf_days: int,
              product: str | None = None) -> dict[str, Any]:
        made = (_EPOCH + timedelta(milliseconds=made_ms)).date()
        best_before = (_EPOCH + timedelta(milliseconds=made_ms + shelf_days * _DAY)).date()
        ilmd: dict[str, Any] = {"cbvmda:lotNumber": lot,
                                "cbvmda:bestBeforeDate": best_before.isoformat(),
                                "cbvmda:countryOfOrigin": "NZ"}
        if self.master_data and product in PRODUCT_LABELS:
            # What the can's label says, signed with the lot (CBV has no word for the last two).
            name, record = PRODUCT_LABELS[product]
            ilmd.update({"gs1:productName": dict(name), "gs1:brandName": dict(BRAND),
                         "cbvmda:countryOfExport": "NZ",
                         "zhenzhi:productionDate": made.isoformat(),
                         "zhenzhi:productRecordNumber": record})
        return ilmd

    def _transfer(self, ev: dict[str, Any], src: str, dst: str, owner: str | None = None,
                  possessor: str | None = None) -> None:
        """Source and destination parties and sites; `owner` takes title if not `dst`, and
        `possessor` possession (a carrier) if not `dst`. Naming them is what entitles them to
        speak about the goods (gateway/README.md, "Who may speak about an item")."""
        s, d = self.orgs[src], self.orgs[dst]
        o = self.orgs[owner] if owner else d
        p = self.orgs[possessor] if possessor else d
        ev["sourceList"] = [{"type": "owning_party", "source": s.id},
                            {"type": "possessing_party", "source": s.id},
                            {"type": "location", "source": s.site}]
        ev["destinationList"] = [{"type": "owning_party", "destination": o.id},
                                 {"type": "possessing_party", "destination": p.id},
                                 {"type": "location", "destination": d.site}]

    # the journey
    def consignment(self, t0: int, bases: Sequence[tuple[str, float]],
                    finished: Sequence[_FinishedLotPlan], sold_fraction: float) -> None:
        """One consignment: base lots, blending, canning, packing, export, voyage, customs,
        bonded storage and retail sale of `sold_fraction` of its cases."""
        emit, nz, ev_ = self.sink.emit, _nz_offset, self._event
        mfr = "manufacturer"
        t = t0
        base_refs: dict[str, LotRef] = {}
        # 1. base powder lots, class level: spray-dried powder is bulk, weighed not counted
        for key, kg in bases:
            made_at, _, code, shelf = _MAKING[key]
            ref = LotRef(self.products[key].gtin, self.lot_number(code, t))
            base_refs[key] = ref
            ev = ev_("ObjectEvent", t, nz(t), mfr, made_at, "commissioning", "active", "ADD",
                     {"quantityList": [{"epcClass": ref.epc_class, "quantity": kg,
                                        "uom": "KGM"}]})
            ev["ilmd"] = self._ilmd(ref.lot, t, shelf)
            emit(mfr, ev)
            if self.truth is not None:
                self.truth.lots.append(Lot(ref, key, (), ()))
            t += 20 * _MIN + self.jitter(10 * _MIN)

        pallets: list[str] = []
        t += _DAY
        for plan in finished:
            gtin = self.products[plan.product].gtin
            made_at, labelled_at, code, shelf = _MAKING[plan.product]
            ref = LotRef(gtin, self.lot_number(code, t))
            ilmd = self._ilmd(ref.lot, t, shelf, plan.product)
            # 2. blending: base lots in, a finished lot out. This is what carries a trace
            # across the change of identity from powder to product.
            ev = ev_("TransformationEvent", t, nz(t), mfr, made_at, "commissioning",
                     "in_progress", None, {
                         "inputQuantityList": [
                             {"epcClass": base_refs[k].epc_class,
                              "quantity": round(plan.cans * per_can, 1), "uom": "KGM"}
                             for k, per_can in plan.inputs],
                         "outputQuantityList": [{"epcClass": ref.epc_class,
                                                 "quantity": plan.cans}]})
            ev["ilmd"] = dict(ilmd)
            emit(mfr, ev)
            t += 30 * _MIN
            cans_all: list[str] = []
            case_buf: list[str] = []
            for start in range(0, plan.cans, _COMMISSION_BATCH):
                n = min(_COMMISSION_BATCH, plan.cans - start)
                cans = [sgtin(gtin, s) for s in self.serials(n)]
                cans_all.extend(cans)
                # 3. cans labelled on the line, each batch with the lot's master data
                ev = ev_("ObjectEvent", t, nz(t), mfr, labelled_at, "commissioning",
                         "active", "ADD", {"epcList": cans})
                ev["ilmd"] = dict(ilmd)
                emit(mfr, ev)
                # 4. cans into cases, cases onto pallets; a pallet holds one lot only
                for i in range(0, n, _CASE_SIZE):
                    t += 20_000 + self.jitter(5_000)
                    case = self.sscc("1")
                    self._pack(t, case, "case", cans[i:i + _CASE_SIZE], "case-packer")
                    case_buf.append(case)
                    if len(case_buf) == _PALLET_SIZE:
                        t += _MIN
                        pallets.append(self._palletise(t, case_buf))
                        case_buf = []
                t += 2 * _MIN
            if case_buf:
                t += _MIN
                pallets.append(self._palletise(t, case_buf))
            if self.truth is not None:
                inputs = tuple(base_refs[k] for k, _ in plan.inputs)
                self.truth.lots.append(Lot(ref, plan.product, inputs, tuple(cans_all)))
            t += _HOUR

        # 5. domestic leg: manufacturer -> exporter's Auckland warehouse
        t += 12 * _HOUR + self.jitter(_HOUR)
        ev = self._observe(t, nz(t), mfr, "dispatch-dock", "shipping", "in_transit", pallets)
        ev["bizTransactionList"] = [{"type": "po", "bizTransaction": self.doc("exporter", "po")},
                                    {"type": "desadv", "bizTransaction": self.doc(mfr, "desadv")}]
        self._transfer(ev, mfr, "exporter")
        emit(mfr, ev)
        t += _DAY + self.jitter(_HOUR)
        ev = self._observe(t, nz(t), "exporter", "dock", "receiving", "in_progress", pallets,
                           located=True)
        self._transfer(ev, mfr, "exporter")
        emit("exporter", ev)

        # 6. export: title passes to the platform, possession to the bonded warehouse
        t += 2 * _DAY + self.jitter(_HOUR)
        po = self.doc("platform", "po")
        ev = self._observe(t, nz(t), "exporter", "dock", "shipping", "in_transit", pallets)
        # The trade documents a bank financing the consignment sees: the buyer's purchase
        # order, the exporter's despatch advice and commercial invoice (CBV bizTransaction
        # types po, desadv, inv), then the carrier's bill of lading (bol) on the voyage.
        ev["bizTransactionList"] = [{"type": "po", "bizTransaction": po},
                                    {"type": "desadv",
                                     "bizTransaction": self.doc("exporter", "desadv")},
                                    {"type": "inv", "bizTransaction": self.doc("exporter", "inv")}]
        # The carrier has the goods for the voyage: naming it lets it report the voyage.
        self._transfer(ev, "exporter", "warehouse", owner="platform", possessor="carrier")
        emit("exporter", ev)

        # 7. the voyage, Port of Tauranga -> Nansha
        bol = [{"type": "bol", "bizTransaction": self.doc("carrier", "bol")}]
        t += _DAY + self.jitter(_HOUR)
        ev = self._observe(t, nz(t), "carrier", "tauranga-berth", "departing", "in_transit",
                           pallets)
        ev["bizTransactionList"] = list(bol)
        emit("carrier", ev)
        departed = t
        t += 6 * _DAY + self.jitter(_HOUR)
        ev = self._observe(t, nz(t), "carrier", "vessel", "transporting", "in_transit", pallets)
        if self.reefer is not None:
            ev["sensorElementList"] = self._reefer_log(departed, t, breach_hours=0)
        emit("carrier", ev)
        logged = t
        t += 7 * _DAY + self.jitter(_HOUR)
        ev = self._observe(t, _CN_OFFSET, "carrier", "nansha-berth", "arriving", "in_transit",
                           pallets)
        ev["bizTransactionList"] = list(bol)
        if self.reefer is not None:
            ev["sensorElementList"] = self._reefer_log(logged, t, breach_hours=self.reefer)
        emit("carrier", ev)

        # 8. customs: the whole consignment, and one case opened as a sample
        t += _DAY + self.jitter(_HOUR)
        emit("customs", self._observe(t, _CN_OFFSET, "customs", "inspection-yard",
                                      "inspecting", "conformant", pallets, located=True))
        t += _HOUR
        sample_case = self.rng.choice(self._kids[self.rng.choice(pallets)])
        emit("customs", self._observe(t, _CN_OFFSET, "customs", "sampling-bench",
                                      "inspecting", "conformant", [sample_case], located=True))

        # 9. bonded warehouse: receive, break the pallets down into cases
        t += _DAY + self.jitter(_HOUR)
        ev = self._observe(t, _CN_OFFSET, "warehouse", "inbound-dock", "receiving",
                           "sellable_not_accessible", pallets, located=True)
        ev["bizTransactionList"] = [{"type": "po", "bizTransaction": po}, *bol]
        self._transfer(ev, "exporter", "warehouse", owner="platform")
        emit("warehouse", ev)
        t += 2 * _HOUR
        cases: list[str] = []
        for pallet in pallets:
            t += 5 * _MIN + self.jitter(_MIN)
            children = self._kids[pallet]
            cases.extend(children)
            self._unpack(t, pallet, children, "sellable_not_accessible", "breakdown-area")

        # 10. sales, first in first out: a case is opened when orders need it; an order is
        # one or two cans, sold by the platform from its pick station in the bonded zone
        picked = sorted(self.rng.sample(range(len(cases)), round(len(cases) * sold_fraction)))
        t += _DAY
        for idx in picked:
            case = cases[idx]
            t += self.jitter(3 * _HOUR)
            cans = self._kids[case]
            self._unpack(t, case, cans, "sellable_accessible", "pick-face")
            s = t
            i = 0
            while i < len(cans):
                k = 1 if self.rng.random() < 0.6 else 2
                s += 5 * _MIN + self.jitter(2 * _HOUR)
                sale = ev_("ObjectEvent", s, _CN_OFFSET, "platform", "pick-station",
                           "retail_selling", "retail_sold", "OBSERVE",
                           {"epcList": cans[i:i + k]})
                sale["bizTransactionList"] = [{"type": "po",
                                               "bizTransaction": self.doc("platform", "order")}]
                if self.master_data:
                    seller = seller_party(self.orgs["platform"])
                    sale["zhenzhi:seller"] = seller
                    sale[MASTER_DATA].append(master_data_element(seller, dict(SELLER_NAMES),
                                                                 "CN"))
                emit("platform", sale)
                if self.truth is not None:
                    for can in cans[i:i + k]:
                        self.truth.sold[can] = sale["eventTime"]
                i += k

    def _reefer_log(self, since: int, until: int, *, breach_hours: int) -> list[dict[str, Any]]:
        """The reefer container's temperature log from `since` to `until`, hourly: 2-3.5 °C,
        except `breach_hours` hours at 9 °C ending three hours before `until` (the reefer off
        power at the Nansha berth, then plugged in again)."""
        hours = (until - since) // _HOUR
        first_out = hours - 3 - breach_hours
        reports = [{"type": "Temperature",
                    "value": 9.0 if first_out <= i < hours - 3 else 2.0 + (i % 4) * 0.5,
                    "uom": "CEL", "time": _iso(since + (i + 1) * _HOUR)}
                   for i in range(hours)]
        # Readings only (no device id): what the public proof discloses for the shopper's
        # cold-chain section (`ledger.evidence.public.reading_only`).
        return [{"sensorReport": reports}]

    def _pack(self, t: int, parent: str, kind: str, children: list[str], rp: str) -> None:
        ev = self._event("AggregationEvent", t, _nz_offset(t), "manufacturer", rp, "packing",
                         "in_progress", "ADD", {"parentID": parent, "childEPCs": children})
        self.sink.emit("manufacturer", ev)
        # Children are remembered here, not read back from events, so that unpacking and
        # customs sampling can name them.
        self._kids[parent] = children
        if self.truth is not None:
            self.truth.containers[parent] = {"kind": kind, "children": tuple(children),
                                             "packed_at": ev["eventTime"], "unpacked_at": None}

    def _palletise(self, t: int, cases: list[str]) -> str:
        pallet = self.sscc("3")
        self._pack(t, pallet, "pallet", cases, "palletiser")
        return pallet

    def _unpack(self, t: int, parent: str, children: list[str], disposition: str,
                rp: str) -> None:
        ev = self._event("AggregationEvent", t, _CN_OFFSET, "warehouse", rp, "unpacking",
                         disposition, "DELETE", {"parentID": parent, "childEPCs": list(children)})
        self.sink.emit("warehouse", ev)
        del self._kids[parent]
        if self.truth is not None:
            self.truth.containers[parent]["unpacked_at"] = ev["eventTime"]

    def _observe(self, t: int, offset: str, org: str, rp: str, step: str, disposition: str,
                 epcs: list[str], located: bool = False) -> dict[str, Any]:
        """An OBSERVE of `epcs`; unlocated by default, since most observations on this
        journey are of goods in transit."""
        return self._event("ObjectEvent", t, offset, org, rp, step, disposition, "OBSERVE",
                           {"epcList": list(epcs)}, located)


def _new_builder(seed: int, size: int, budget: int | None, truth: _Truth | None,
                 master_data: bool = False) -> tuple[_Builder, _Sink]:
    # Seeded on purpose: test data must be reproducible (see the module docstring).
    sink = _Sink(size, budget, random.Random(seed), organisations())  # noqa: S311
    return _Builder(sink, truth, master_data), sink


# --- public entry points ------------------------------------------------------------------

def build_journey(seed: int = 0, *, cans: tuple[int, int] = (90, 60),
                  sold_fraction: float = 0.5, document_size: int = 500,
                  start_ms: int = _START_MS, master_data: bool = True,
                  chilled: int | None = None) -> Journey:
    """One small consignment with two base-powder lots and two finished lots:

    - base lots: whole milk powder (WM…) and whey protein (WP…);
    - stage 1 lot (F1…) blended from both bases, `cans[0]` cans;
    - stage 2 lot (F2…) blended from whole milk powder only, `cans[1]` cans;

    so recalling the whey lot reaches stage 1 only, and the milk lot reaches both. Cans go six
    to a case, fifty cases to a pallet (a lot per pallet); `sold_fraction` of the cases are
    opened and sold at retail. Documents are grouped per capturing organisation.
    `start_ms` (unix ms) is when the base powder is made: consignments that share a store and
    a chain need different days, since lot numbers carry the production date.
    Each event carries its signer's master data for the places and parties it names
    (`MASTER_DATA`) and the finished lots' ILMD the label facts, unless `master_data` is False.

    `chilled` (hours of breach, 0 for none) makes it a chilled consignment instead: one base
    lot of fresh cream and one lot of `cans[0]` packs of chilled cultured butter, shipped in a
    reefer container whose temperature log rides on the carrier's voyage and arrival events
    (`sensorElementList`, hourly), with `chilled` hours at 9 °C at the Nansha berth.
    """
    if min(cans) < 1:
        raise ValueError("each finished lot needs at least one can")
    truth = _Truth()
    b, sink = _new_builder(seed, document_size, None, truth, master_data)
    if chilled is not None:
        if chilled < 0:
            raise ValueError("hours of breach are zero or more")
        b.reefer = chilled
        b.consignment(start_ms, [("cream", 250.0)],
                      [_FinishedLotPlan("butter", cans[0], (("cream", 0.55),))], sold_fraction)
    else:
        plans = [_FinishedLotPlan("stage1", cans[0], (("wmp", 0.52), ("wpc", 0.21))),
                 _FinishedLotPlan("stage2", cans[1], (("wmp", 0.68),))]
        b.consignment(start_ms, [("wmp", 1500.0), ("wpc", 600.0)], plans, sold_fraction)
    sink.flush_all()
    containers = tuple(
        Container(epc, c["kind"], c["children"], c["packed_at"], c["unpacked_at"])
        for epc, c in truth.containers.items())
    return Journey(seed, sink.orgs, b.products, tuple(truth.lots), containers,
                   dict(truth.sold), tuple(sink.take()))


RECALL_LOT_CANS = 6_000  # cans in each of the two finished lots made from RECALL_LOT


def _recall_lot() -> LotRef:
    return LotRef(products()["wmp"].gtin, "WM" + _iso(_START_MS)[2:10].replace("-", "")
                  + "-00001")


RECALL_LOT = _recall_lot()
"""The whole-milk base lot of the first bulk consignment: two finished lots of 6,000 cans are
made from it, so 12,000 cans, 2,000 cases and 40 pallets descend from it (once the bulk run is
at least ~4,000 events long, enough to reach the last pallet's packing)."""


def generate_captures(n_events: int, seed: int = 0, *, document_size: int = 500
                      ) -> Iterator[Capture]:
    """Exactly `n_events` events as captures of at most `document_size` events, each from one
    organisation. Consignments follow one another every twelve hours; the stream stops in the
    middle of one when the budget is spent (goods still in transit, as in a live system)."""
    if n_events < 0:
        raise ValueError("n_events must be >= 0")
    b, sink = _new_builder(seed, document_size, n_events, None)
    rng = sink.rng
    t = _START_MS
    first = True
    try:
        while sink.count < n_events:
            if first:
                plans = [_FinishedLotPlan("stage1", RECALL_LOT_CANS, (("wmp", 0.52), ("wpc", 0.21))),
                         _FinishedLotPlan("stage2", RECALL_LOT_CANS, (("wmp", 0.68),))]
                sold = 0.5
                first = False
            else:
                plans = [_FinishedLotPlan(rng.choice(("stage1", "stage2")),
                                          rng.randrange(600, 3000, 6),
                                          (("wmp", 0.52), ("wpc", 0.21)))
                         for _ in range(rng.choice((1, 2)))]
                sold = 0.4 + 0.55 * rng.random()
            kg = sum(p.cans for p in plans) * 0.7 + 500
            b.consignment(t, [("wmp", round(kg, 1)), ("wpc", round(kg * 0.3, 1))], plans, sold)
            t += 12 * _HOUR
            yield from sink.take()
    except _Full:
        pass
    sink.flush_all()
    yield from sink.take()


def generate(n_events: int, seed: int = 0, *, document_size: int = 500
             ) -> Iterator[dict[str, Any]]:
    """Exactly `n_events` EPCIS 2.0 events as EPCISDocument dicts (see `generate_captures`)."""
    return (c.document for c in generate_captures(n_events, seed, document_size=document_size))
