"""The demo's story: who takes part, the three consignments, and `play`, which drives them
through the gateway over HTTP and the chain with each organisation's own key."""


from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.errors import InvalidInputError
from ledger.trade.customs import DECLARING, RELEASING, Declaration, declaration_fields

__all__ = ["CHILLED", "CONSIGNMENTS", "DEMO_RECORD", "DemoResult", "Keyring", "Player", "expect_ok", "play"]

DEMO_RECORD = "demo.json"
RECORD_VERSION = 1
# Local demo keys: scrypt n = 2**14 unlocks in milliseconds. Real signer keys use
# `ledger.proofs.keystore.DEFAULT_SCRYPT_N` (2**18); these guard throwaway devnet accounts.
DEMO_SCRYPT_N = 1 << 14
FUNDING_WEI = 10 * 10**18
HS_INFANT_FORMULA = "190110"  # HS 1901.10: preparations for infant use, put up for retail sale
HS_BUTTER = "040510"  # HS 0405.10: butter

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_SERIAL_EPC = re.compile(r'"(https://id\.gs1\.org/01/[0-9]{14}/21/[^"/]+)"')


@dataclass(frozen=True)
class ConsignmentPlan:
    ref: str
    seed: int
    day: int  # production day after the journey generator's first day
    chilled: int | None = None  # chilled butter in a reefer: hours of breach in its log


# Played in this order: the rules see each consignment's effects on the next (the first
# inspection gives the brand an inspection history; the recall and complaints come before the
# third). Which decision each gets is the rules' call, not the plan's.
CONSIGNMENTS = (
    ConsignmentPlan("CN-NS-2025-000101", 101, 0),
    ConsignmentPlan("CN-NS-2025-000102", 102, 9),
    ConsignmentPlan("CN-NS-2025-000103", 103, 23),
)
# The chilled consignment, played after the second: cultured butter in a reefer container that
# lost power for four hours at the Nansha berth (9 °C against the brand's signed 0-4 °C).
CHILLED = ConsignmentPlan("CN-NS-2025-000104", 104, 14, chilled=4)

# Where consumers scan from: a public address in each place, sent as the X-Forwarded-For of the
# demo's gateway, which trusts its loopback "proxy" (the gateway places a client by its address,
# at country level). The buyer in Guangzhou; the copied code on fakes sold in three other
# countries: four countries within days after one sale is a clone.
BUYER_IP = "116.228.0.1"  # CN
CLONE_IPS = (("203.116.0.1", "Singapore"), ("175.136.0.1", "Kuala Lumpur"),
             ("1.46.0.1", "Bangkok"))
RECALL_SCAN_IP = "124.65.0.1"  # CN
RECALL_NOTICE = ("Precautionary recall: Kōwhai Stage 2 lot {lot}. A supplier reported a "
                 "packaging seal defect; do not feed, return for a refund.")


@dataclass(frozen=True)
class Member:
    """A consortium member the demo enrols: its GLN, name, roles and company prefix."""

    key: str
    gln: str
    name: str
    roles: tuple[str, ...]
    prefix: str | None

    @property
    def org(self) -> bytes:
        from ledger.proofs.codes import org_id

        return org_id(self.gln)

    @property
    def org_hex(self) -> str:
        return "0x" + self.org.hex()


def members() -> list[Member]:
    from ledger.demo.journey import check_digit, organisations

    out = [Member(o.key, o.gln, o.name, (o.role,), o.company_prefix)
           for o in organisations().values()]
    body = "690000100000"  # a GLN under a Chinese prefix: the market regulator's
    out.append(Member("regulator", body + check_digit(body),
                      "Guangdong Market Supervision Administration", ("REGULATOR",), None))
    return out


# --- keys ---------------------------------------------------------------------------------

class Keyring:
    """Encrypted keystores under `var/keys/`, one per organisation, with one passphrase."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.passphrase_file = self.dir / ".passphrase"
        if not self.passphrase_file.exists():
            fd = os.open(self.passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(24) + "\n")
        self.passphrase = self.passphrase_file.read_text(encoding="utf-8").strip()
        self._loaded: dict[str, LocalAccount] = {}

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def account(self, name: str) -> LocalAccount:
        """The key `name`, created (encrypted, 0600) on first use."""
        from ledger.proofs.keystore import load_key, new_key

        if name not in self._loaded:
            if not self.path(name).exists():
                new_key(self.path(name), self.passphrase, scrypt_n=DEMO_SCRYPT_N)
            self._loaded[name] = load_key(self.path(name), self.passphrase)
        return self._loaded[name]


# --- results ------------------------------------------------------------------------------

@dataclass
class DemoResult:
    """What the demo played (saved as `var/demo.json`) and where to look."""

    chain_id: int
    consortium: str
    items: dict[str, dict[str, str]] = field(default_factory=dict)  # genuine/clone/recalled
    consignments: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    members: list[dict[str, str]] = field(default_factory=list)
    played_at: str = ""
    reused: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"version": RECORD_VERSION, "chainId": self.chain_id,
                "consortium": self.consortium, "items": self.items,
                "consignments": self.consignments, "labels": self.labels,
                "counts": self.counts, "members": self.members, "playedAt": self.played_at}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DemoResult:
        return cls(raw["chainId"], raw["consortium"], raw["items"], raw["consignments"],
                   raw["labels"], raw["counts"], raw.get("members", []), raw.get("playedAt", ""))


# --- the journey, relabelled with the gateway's serials -------------------------------------

def relabel(journey: Any, serials: dict[str, str]) -> Any:
    """The same journey with each can's EPC replaced by `serials[epc]` (the codes the gateway
    issued for its lot): the generator draws test serials, a brand prints issued ones."""
    def sub(text: str) -> str:
        return _SERIAL_EPC.sub(lambda m: '"' + serials.get(m.group(1), m.group(1)) + '"', text)

    captures = tuple(replace(c, document=json.loads(sub(json.dumps(c.document))))
                     for c in journey.captures)
    lots = tuple(replace(lot, items=tuple(serials.get(e, e) for e in lot.items))
                 for lot in journey.lots)
    containers = tuple(replace(c, children=tuple(serials.get(e, e) for e in c.children))
                       for c in journey.containers)
    sold = {serials.get(e, e): t for e, t in journey.sold.items()}
    return replace(journey, captures=captures, lots=lots, containers=containers, sold=sold)


def _iso_ms(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


# --- the player -----------------------------------------------------------------------------

Step = Callable[[str], None]


class Player:
    """Plays the demo against a running gateway (`base_url`) and the chain."""

    def __init__(self, w3: Any, deployment: Any, admin_key: str | bytes, keyring: Keyring,
                 http: Any, var: Path, step: Step) -> None:
        from ledger.chain.client import Chain
        from ledger.chain.transactor import Transactor
        from ledger.proofs.signing import CaptureDomain

        self.w3 = w3
        self.deployment = deployment
        self._view: Any = None  # the consumers' own view of the chain (`scan`)
        self.chain = Chain(w3, deployment)
        self.admin = Transactor(w3, Account.from_key(admin_key))
        self.keyring = keyring
        self.http = http
        self.var = var
        self.step = step
        self.domain = CaptureDomain(deployment.chainId, deployment.address("Consortium"))
        self.parties: dict[str, Member] = {m.key: m for m in members()}
        self.tx: dict[str, Any] = {}
        self._nonce = time.time_ns() // 1000
        self.captures: list[str] = []
        self.counts: dict[str, int] = {"events": 0, "captures": 0, "lots": 0, "codes": 0,
                                       "scans": 0, "complaints": 0, "recalls": 0,
                                       "decisions": 0, "members": 0}
        self.labels: list[str] = []

    # --- consortium ---------------------------------------------------------------------

    def enrol(self) -> None:
        from ledger.chain.deployment import DEFAULT_OPERATOR_GLN
        from ledger.chain.transactor import Transactor

        for m in self.parties.values():
            account = self.keyring.account(m.key)
            self._admit(m.org, m.name, m.roles, account.address)
            if m.prefix and self.chain.prefix_owner(m.prefix) is None:
                pid = self.chain.propose_assign_prefix(self.admin, m.org, m.prefix
                                                       ).event("ProposalCreated")["id"]
                self.chain.execute(self.admin, pid)
            self.tx[m.key] = Transactor(self.w3, account)
            self.step(f"member: {m.name} ({', '.join(m.roles)}), key {account.address}")
        # The anchoring worker gets its own operator key: the admin key sends proposals from
        # this process, and two senders tracking one account's nonce would collide.
        anchorer = self.keyring.account("operator-anchorer")
        from ledger.proofs.codes import org_id

        self._admit(org_id(DEFAULT_OPERATOR_GLN), "", ("ANCHORER",), anchorer.address)
        self.step(f"operator: anchoring key {anchorer.address}")
        reg = self.tx["regulator"]
        for grade in ("A", "B", "C", "D"):
            if grade not in self.chain.grade_levels():
                self.chain.define_grade(reg, grade)
        self.chain.set_grade(reg, self.parties["manufacturer"].org, "A")
        for key in ("exporter", "carrier", "warehouse", "platform"):
            self.chain.set_grade(reg, self.parties[key].org, "B")
        self.counts["members"] = len(self.parties) + 1
        self.step("regulator: credit grades A-D defined; brand graded A, logistics B")

    def _admit(self, org: bytes, name: str, roles: Sequence[str], address: str) -> None:
        if self.chain.org_of_key(address) == org:
            return
        if self.w3.eth.get_balance(address) < FUNDING_WEI // 2:
            self.admin.send(to=address, value=FUNDING_WEI)
        if self.chain.organisation(org) is None:
            pid = self.chain.propose_admit(self.admin, org, name, list(roles), [address]
                                           ).event("ProposalCreated")["id"]
        else:
            pid = self.chain.propose_add_key(self.admin, org, address).event("ProposalCreated")["id"]
        self.chain.execute(self.admin, pid)

    # --- HTTP as each party ---------------------------------------------------------------

    def request(self, who: str, method: str, path: str, body: Any = None) -> Any:
        """A signed member request (the signature covers method, path and body)."""
        from ledger.proofs.request_signing import sign_request

        m = self.parties[who]
        raw = b"" if body is None else json.dumps(body).encode()
        headers = sign_request(self.keyring.account(who).key, method, path, raw,
                               org=m.org_hex).headers()
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self.http.request(method, path, content=raw or None, headers=headers)
        return expect_ok(response, f"{who}: {method} {path}")

    def signed_at(self) -> int:
        # A key is valid from the block that added it; a devnet's block clock may run ahead.
        return max(int(time.time()), int(self.w3.eth.get_block("latest")["timestamp"]))

    def capture(self, who: str, document: dict[str, Any]) -> list[str]:
        """Sign `document` as `who` and POST it; the event ids the gateway accepted."""
        from ledger.epcis.document import parse_document
        from ledger.epcis.event_hash import event_hashes
        from ledger.proofs.signing import prepare_capture, sign_capture, signature_to_headers

        ids = event_hashes(document)
        seed, _, root = prepare_capture(parse_document(document).events, ids)
        self._nonce += 1
        sig = sign_capture(bytes(self.keyring.account(who).key), self.domain,
                           root, len(ids), self.parties[who].org, self._nonce,
                           self.signed_at())
        response = self.http.post("/capture", content=json.dumps(document).encode(),
                                  headers={**signature_to_headers(sig, seed),
                                           "Content-Type": "application/ld+json"})
        job = expect_ok(response, f"{who}: POST /capture").json()
        if not job["success"]:
            raise InvalidInputError(f"{who}'s capture was not fully accepted: {job['errors']}")
        self.captures.append(job["captureID"])
        self.counts["captures"] += 1
        self.counts["events"] += len(job["eventIDs"])
        return list(job["eventIDs"])

    # --- codes ----------------------------------------------------------------------------

    def issue_codes(self, journey: Any) -> Any:
        """Serials from the gateway for each finished lot, the lot on CodeRegistry by the brand,
        label sheets under var/labels/; the journey relabelled with the issued codes."""
        labels = self.var / "labels"
        labels.mkdir(parents=True, exist_ok=True)
        mapping: dict[str, str] = {}
        for lot in journey.lots:
            if not lot.items:
                continue  # bulk base powder is weighed, not serialised
            gtin, number = lot.ref.gtin, lot.ref.lot
            issued = self.request("manufacturer", "POST", "/codes/lots",
                                  {"gtin": gtin, "lot": number, "count": len(lot.items)}).json()
            for epc, serial in zip(lot.items, issued["serials"], strict=True):
                mapping[epc] = f"https://id.gs1.org/01/{gtin}/21/{serial}"
            root = bytes.fromhex(issued["codesRoot"][2:])
            self.chain.register_lot(self.tx["manufacturer"], gtin, number, root, len(lot.items))
            pdf = self.request("manufacturer", "GET",
                               f"/codes/lots/{gtin}/{quote(number, safe='')}/labels.pdf")
            path = labels / f"labels-{gtin}-{number}.pdf"
            path.write_bytes(pdf.content)
            self.labels.append(str(path))
            self.counts["lots"] += 1
            self.counts["codes"] += len(lot.items)
            self.step(f"brand: lot {number} — {len(lot.items)} codes issued, registered on "
                      f"CodeRegistry, labels → {path.relative_to(self.var.parent)}")
        return relabel(journey, mapping)

    def item_labels(self, name: str, epc: str) -> None:
        gtin, serial = _gtin_serial(epc)
        labels = self.var / "labels"
        for ext in ("png", "svg"):
            body = self.request("manufacturer", "GET",
                                f"/codes/{gtin}/{quote(serial, safe='')}/label.{ext}")
            path = labels / f"{name}.{ext}"
            path.write_bytes(body.content)
            self.labels.append(str(path))

    # --- a consignment --------------------------------------------------------------------

    def consignment(self, plan: ConsignmentPlan) -> dict[str, Any]:
        from ledger.demo.journey import _START_MS, build_journey

        journey = build_journey(plan.seed, start_ms=_START_MS + plan.day * _DAY_MS,
                                chilled=plan.chilled)
        journey = self.issue_codes(journey)
        category = HS_INFANT_FORMULA if plan.chilled is None else HS_BUTTER
        if plan.chilled is not None:
            self.sign_conditions(journey)
        ids: dict[tuple[int, int], str] = {}

        def play(keys: Sequence[str]) -> None:
            for c_index, cap in enumerate(journey.captures):
                if cap.org.key in keys:
                    for e_index, eid in enumerate(self.capture(cap.org.key, cap.document)):
                        ids[(c_index, e_index)] = eid

        def event(pos: tuple[int, int]) -> dict[str, Any]:
            return journey.captures[pos[0]].events[pos[1]]  # type: ignore[no-any-return]

        play(("manufacturer", "exporter", "carrier"))
        self.step(f"{plan.ref}: made, packed, exported and shipped to Nansha "
                  f"({len(ids)} signed events)")
        # What customs' decision covers: the export shipment and the voyage.
        covered = [eid for pos, eid in sorted(ids.items())
                   if event(pos).get("bizStep") in ("departing", "transporting", "arriving")
                   or (journey.captures[pos[0]].org.key == "exporter"
                       and event(pos).get("bizStep") == "shipping")]
        arrived = max(_ms(event(p)["eventTime"]) for p in ids
                      if event(p).get("bizStep") == "arriving")
        pallets = list(next(event(p)["epcList"] for p in ids
                            if event(p).get("bizStep") == "arriving"))
        # The platform owns the goods from the export on: it declares them on arrival.
        # Lodged with the customs of Nansha, naming what its risk rules judge: the decision
        # below is customs' answer to it (and the console's queue shows it until settled).
        self.border("platform", DECLARING, arrived + _HOUR_MS // 2, pallets, "customs-desk",
                    declaration_fields(Declaration(
                        plan.ref, self.parties["manufacturer"].org, "NZ", category,
                        tuple(bytes.fromhex(e[14:78]) for e in covered)),
                        self.parties["customs"].org))
        risk = self.request("customs", "POST", f"/consignments/{plan.ref}/risk", {
            "enterprise": self.parties["manufacturer"].gln, "originCountry": "NZ",
            "category": category, "eventIds": covered}).json()
        decision = risk["decision"]
        fired = [r["id"] for r in risk["fired"]]
        self.step(f"{plan.ref}: risk score {risk.get('score')} → {decision} "
                  f"(rules: {', '.join(fired) or 'none'})")
        record = {"ref": plan.ref, "decision": decision, "score": risk.get("score"),
                  "rules": fired, "inspection": "NOT_INSPECTED"}
        breaches = [b for r in risk.get("coldChain", []) for b in _breaches(r)]
        if plan.chilled is not None:
            record["coldChainBreaches"] = len(breaches)
            for b in breaches:
                self.step(f"{plan.ref}: cold-chain breach — {b['reading']['value']:g} °C at "
                          f"{b['reading']['start']}, {b['minutesOutside']:g} min outside "
                          f"{b['range']} (signed sensor readings of {b['signer']})")
        self.decide(plan.ref, decision, "NOT_INSPECTED", covered, arrived + _HOUR_MS, pallets,
                    risk, category)
        released_at = arrived + 2 * _HOUR_MS
        if decision == "NORMAL_CONTROL":
            before = set(ids)
            play(("customs",))  # the yard inspection and a sampled case, as the journey has them
            covered += [ids[p] for p in sorted(set(ids) - before)]
            last = max(_ms(event(p)["eventTime"]) for p in set(ids) - before)
            self.decide(plan.ref, decision, "PASSED", covered, last + _HOUR_MS, pallets, risk,
                        category)
            released_at = last + 2 * _HOUR_MS
            record["inspection"] = "PASSED"
            self.step(f"{plan.ref}: inspected at the yard (sample case opened): PASSED, released")
        if decision == "IMMEDIATE_CONTROL":
            record["released"] = False
            self.step(f"{plan.ref}: held at Nansha port under immediate control")
            return {**record, "journey": journey}
        self.border("customs", RELEASING, released_at, pallets, "inspection-yard")
        play(("warehouse", "platform"))
        record["released"] = True
        record["sold"] = len(journey.sold)
        self.step(f"{plan.ref}: received and broken down in the bonded warehouse; "
                  f"{len(journey.sold)} cans sold by the platform")
        return {**record, "journey": journey}

    def sign_conditions(self, journey: Any) -> None:
        """The brand signs its chilled product's allowed range (0-4 °C, an hour allowed
        outside) with its own key, gives it to the gateway (`POST /conditions`) and registers
        its hash on CodeRegistry, so no gateway can serve another version in its place."""
        from ledger.demo.journey import CHILLED_RANGES
        from ledger.proofs.merkle import keccak256
        from ledger.trade.conditions import conditions_text, sign_conditions

        for lot in journey.lots:
            if not lot.items:
                continue
            text = conditions_text(lot.ref.gtin, 1, CHILLED_RANGES)
            signed = sign_conditions(bytes(self.keyring.account("manufacturer").key),
                                     self.domain, text, self.parties["manufacturer"].org,
                                     self.signed_at())
            self.request("manufacturer", "POST", "/conditions", signed.to_json())
            if not self.chain.conditions_history(lot.ref.gtin):
                self.chain.register_conditions(self.tx["manufacturer"], lot.ref.gtin, 1,
                                               keccak256(text.encode()))
            self.step(f"brand: signs GTIN {lot.ref.gtin}'s conditions, 0–4 °C "
                      "(60 minutes allowed outside), version 1, and registers their hash on "
                      "CodeRegistry")

    def border(self, who: str, step: str, at_ms: int, pallets: Sequence[str],
               read_point: str, fields: dict[str, Any] | None = None) -> None:
        """`who` captures a signed declaration or release of the pallets, with its master data
        for where it happened and for itself."""
        from ledger.demo.journey import organisations, signer_master_data
        from ledger.trade.customs import border_event, inspecting_document

        org = organisations()[who]
        event = border_event(step, event_time=_iso_ms(at_ms), epcs=pallets,
                             read_point=org.read_point(read_point),
                             master_data=signer_master_data(org, read_point))
        event.update(fields or {})
        self.capture(who, inspecting_document(event, created=_iso_ms(at_ms)))

    def decide(self, ref: str, decision: str, inspection: str, covered: Sequence[str],
               at_ms: int, pallets: Sequence[str], risk: dict[str, Any],
               category: str = HS_INFANT_FORMULA) -> None:
        """Customs records the decision on CustomsRelease with its own key, and captures it as
        a signed `inspecting` event (what the gateway proves an item's customs status from)."""
        from gateway.routes.customs import parse_event_id
        from ledger.chain.decisions import Decision
        from ledger.trade.customs import (
            Declaration,
            Inspection,
            consignment_key,
            inspecting_document,
            inspecting_event,
        )
        from ledger.trade.risk import load_rules

        rules = load_rules(risk["rulesVersion"])
        event_ids = tuple(parse_event_id(e) for e in covered)
        declaration = Declaration(ref, self.parties["manufacturer"].org, "NZ", category,
                                  event_ids)
        # The root over the covered events' commitments, which the gateway holds: asked for
        # the very list covered (it may have grown since the assessment).
        root = bytes.fromhex(self.request("customs", "POST", f"/consignments/{ref}/risk", {
            "enterprise": self.parties["manufacturer"].gln, "originCountry": "NZ",
            "category": category, "eventIds": list(covered)}).json()["eventsRoot"][2:])
        self.chain.record_decision(self.tx["customs"], consignment_key(ref), decision,
                                   inspection, root, rules.version,
                                   bytes.fromhex(rules.sha256))
        # Business time: the decision follows the arrival (or the inspection) in the journey.
        event = inspecting_event(declaration, Decision.parse(decision), Inspection.parse(inspection),
                                 rules, event_time=_iso_ms(at_ms), epcs=pallets,
                                 read_point=_customs_site(self.parties["customs"].gln), root=root)
        event["eventTimeZoneOffset"] = "+08:00"  # Nansha's time
        # The risk explanation travels with customs' signature, for the regulator's console.
        event["zhenzhi:riskScore"] = risk.get("score")
        event["zhenzhi:rulesFired"] = [r["id"] for r in risk["fired"]]
        self.capture("customs", inspecting_document(event, created=_iso_ms(at_ms)))
        self.counts["decisions"] += 1

    # --- consumers ----------------------------------------------------------------------

    def scan(self, epc: str, ip: str) -> str:
        """A consumer's phone at address `ip` opening the Digital Link (through the demo
        gateway's trusted loopback proxy): it loads the page shell, fetches the item's public
        proof and checks it against the chain itself, as the page's script does (the browser
        and Python verifiers give one answer: tests/proof_vectors.py). The verdict."""
        from ledger.chain.view import ChainView
        from ledger.proofs.bundle import Bundle
        from verifier.verify import verify

        gtin, serial = _gtin_serial(epc)
        path = f"/01/{gtin}/21/{quote(serial, safe='')}"
        # The Digital Link sends a browser on to the consumer page (307, /pip/…).
        shell = expect_ok(self.http.get(path, headers={"Accept": "text/html",
                                                       "X-Forwarded-For": ip},
                                        follow_redirects=True), f"page {epc}")
        if "verify.js" not in shell.text:
            raise InvalidInputError(f"the page of {epc} does not load the verifier")
        response = self.http.get(path, headers={"Accept": "application/json",
                                                "X-Forwarded-For": ip})
        proof = Bundle.from_json(expect_ok(response, f"scan {epc}").json())
        if self._view is None:
            self._view = ChainView(self.w3, self.deployment, max_staleness=0.0)
        verdict = verify(epc, proof, self._view)
        self.counts["scans"] += 1
        return str(verdict.kind)

    def complain(self, epc: str, category: str, message: str, ip: str) -> None:
        gtin, serial = _gtin_serial(epc)
        response = self.http.post("/complaints", json={
            "code": f"https://id.gs1.org/01/{gtin}/21/{serial}", "category": category,
            "message": message}, headers={"X-Forwarded-For": ip})
        expect_ok(response, "POST /complaints")
        self.counts["complaints"] += 1


def _breaches(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The breaches of one GTIN's cold-chain report (`ColdChainReport.to_json`)."""
    return [{**x, "range": f"{r['range'].get('min')}–{r['range'].get('max')} "
                           f"{r['range'].get('uom')}"}
            for r in report.get("ranges", []) if r.get("breached")
            for x in r.get("excursions", [])]


def _customs_site(gln: str) -> str:
    return f"https://id.gs1.org/414/{gln}/254/inspection-yard"


def _gtin_serial(epc: str) -> tuple[str, str]:
    gtin, serial = epc.split("/01/", 1)[1].split("/21/", 1)
    return gtin, serial


def expect_ok(response: Any, what: str) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = f"{body.get('type')}: {body.get('detail')}"
        except ValueError:
            detail = response.text[:300]
        raise InvalidInputError(f"{what} answered {response.status_code} ({detail})")
    return response


# --- the whole job ------------------------------------------------------------------------

def play(player: Player, *, wait_anchored: Callable[[], None]) -> DemoResult:
    """Everything the demo does, in story order; returns the record to save."""
    step = player.step
    player.enrol()
    played = [player.consignment(plan) for plan in CONSIGNMENTS[:2]]
    released = [p for p in played if p.get("released")]
    # The chilled butter, whose reefer breached at the berth: customs inspects it (rule
    # cold-chain-breach), and the packs sold carry the breach on their page.
    played.append(player.consignment(CHILLED))
    butter = played[-1]["journey"]
    chilled = next((e for lot in butter.lots for e in lot.items if e in butter.sold), None)
    if chilled is None:
        raise InvalidInputError(f"{CHILLED.ref} was not released: no chilled pack was sold")
    if not released:
        raise InvalidInputError("no consignment was released: nothing reached consumers")
    # The genuine can and the cloned code: stage 1, sold, from the first released consignment.
    first = released[0]["journey"]
    stage1 = next(lot for lot in first.lots if lot.product == "stage1")
    sold1 = [e for e in stage1.items if e in first.sold]
    genuine, cloned = sold1[0], sold1[-1]
    # The recall: stage 2 of the last released consignment.
    last = released[-1]["journey"]
    stage2 = next(lot for lot in last.lots if lot.product == "stage2")
    recalled = next(e for e in stage2.items if e in last.sold)
    for name, epc in (("genuine", genuine), ("clone", cloned), ("recalled", recalled),
                      ("chilled", chilled)):
        player.item_labels(f"item-{name}", epc)

    wait_anchored()
    step("anchoring: every capture is in a Merkle root on TraceAnchor")
    verdicts: dict[str, str] = {}
    verdicts["genuine"] = player.scan(genuine, BUYER_IP)
    step(f"consumer (Guangzhou) scans a genuine can: {verdicts['genuine']}")
    verdicts["chilled"] = player.scan(chilled, BUYER_IP)
    step(f"consumer (Guangzhou) scans a pack of the chilled butter: {verdicts['chilled']}, "
         "with the reefer's breach in its cold-chain section")
    player.scan(cloned, BUYER_IP)
    for ip, city in CLONE_IPS:
        verdicts["clone"] = player.scan(cloned, ip)
        player.complain(cloned, "counterfeit",
                        f"Bought in {city}; the seller's tin looks different and the code says "
                        "it was already sold to someone else.", ip)
    step(f"the same code, copied, scanned in {', '.join(c for _, c in CLONE_IPS)}: "
         f"{verdicts['clone']} (3 complaints filed)")

    import hashlib

    notice = RECALL_NOTICE.format(lot=stage2.ref.lot)
    player.chain.recall_lot(player.tx["manufacturer"], stage2.ref.gtin, stage2.ref.lot,
                            hashlib.sha256(notice.encode()).digest())
    player.counts["recalls"] += 1
    step(f"brand recalls lot {stage2.ref.lot} on CodeRegistry")
    # The gateway reads the chain through a per-block cache re-checked every 0.25 s
    # (ChainView.max_staleness): a scan right after the recall's block could still see the lot
    # active. A consumer is never that fast; the demo waits as long.
    time.sleep(2 * 0.25)
    verdicts["recalled"] = player.scan(recalled, RECALL_SCAN_IP)
    player.complain(recalled, "quality", "The seal under the lid was broken when opened.",
                    RECALL_SCAN_IP)
    step(f"consumer (Hangzhou) scans a can of the recalled lot: {verdicts['recalled']}")
    player.chain.set_grade(player.tx["regulator"], player.parties["manufacturer"].org, "C")
    step("regulator downgrades the brand's credit grade A → C after the recall and complaints")

    played.append(player.consignment(CONSIGNMENTS[2]))
    wait_anchored()

    def item(name: str, epc: str) -> dict[str, str]:
        gtin, serial = _gtin_serial(epc)
        return {"code": epc, "gtin": gtin, "serial": serial,
                "path": f"/01/{gtin}/21/{quote(serial, safe='')}", "verdict": verdicts[name],
                "labelPng": str(player.var / "labels" / f"item-{name}.png")}

    return DemoResult(
        chain_id=player.deployment.chainId,
        consortium=player.deployment.address("Consortium"),
        items={"genuine": item("genuine", genuine), "clone": item("clone", cloned),
               "recalled": item("recalled", recalled), "chilled": item("chilled", chilled)},
        consignments=[{k: v for k, v in p.items() if k != "journey"} for p in played],
        labels=player.labels, counts=dict(player.counts),
        members=[{"key": m.key, "name": m.name, "gln": m.gln, "roles": ",".join(m.roles)}
                 for m in player.parties.values()],
        played_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
