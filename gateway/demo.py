"""`zhenzhi demo`: the main job. Plays a real cross-border journey through every component and
keeps the gateway serving it.

What it does, each step through the production path (no shortcut a verifier could notice):

1. consortium: six journey organisations (NZ manufacturer, exporter, carrier; Nansha customs,
   bonded warehouse, e-commerce platform) and a market regulator are admitted by the operator's
   ADMIN key through Consortium proposals; each gets its own secp256k1 key, kept as an
   encrypted keystore under `var/keys/`, funded by a plain value transfer from the deployer;
   the operator gets a separate ANCHORER key for the gateway's anchoring worker;
2. the gateway (FastAPI under uvicorn, in this process) starts on SQLite with its anchoring
   worker; everything below talks to it over HTTP;
3. three consignments (`ledger.journey`, one a production day apart): the brand asks the
   gateway for unguessable serials per lot, registers each lot on CodeRegistry with its own
   transaction and downloads the label sheets; every party signs its EPCIS documents (EIP-712)
   and POSTs them; customs asks the gateway for the risk assessment (versioned rules), records
   the suggested decision on CustomsRelease with its own key and captures a signed `inspecting`
   event. Only released goods go on to the bonded warehouse and the platform's sales;
4. consumers scan through the Digital Link resolver: a genuine can, a cloned code (the buyer's
   scan, then three other cities), a can of a lot the brand recalls; they file complaints; the
   regulator downgrades the brand's credit grade after the recall, which the third
   consignment's risk assessment then sees.

The record of what was played is `var/demo.json`: a second run on the same `var/` finds it and
only serves again. Key files are encrypted, but the passphrase is in `var/keys/.passphrase`
(mode 0600) so the demo can restart unattended: a local demo, not a key-management policy.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.cli.chain_options import DEFAULT_MANIFEST, DEFAULT_RPC, ManifestOption, RpcOption
from ledger.errors import InvalidInputError, LedgerError

__all__ = ["CONSIGNMENTS", "DEMO_RECORD", "DemoResult", "PortInUseError", "demo_gateway", "play",
           "register", "run_demo"]

DEMO_RECORD = "demo.json"
RECORD_VERSION = 1
# Local demo keys: scrypt n = 2**14 unlocks in milliseconds. Real signer keys use
# `ledger.keystore.DEFAULT_SCRYPT_N` (2**18); these guard throwaway devnet accounts.
DEMO_SCRYPT_N = 1 << 14
FUNDING_WEI = 10 * 10**18
HS_INFANT_FORMULA = "190110"  # HS 1901.10: preparations for infant use, put up for retail sale

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_SERIAL_EPC = re.compile(r'"(https://id\.gs1\.org/01/[0-9]{14}/21/[^"/]+)"')
_VERDICT = re.compile(r'data-verdict="([A-Z_]+)"')


class PortInUseError(InvalidInputError):
    slug = "port-in-use"
    title = "Port in use"


class DemoStateError(InvalidInputError):
    slug = "demo-state"
    title = "The demo's var/ directory does not match the chain"


@dataclass(frozen=True)
class ConsignmentPlan:
    ref: str
    seed: int
    day: int  # production day after the journey generator's first day


# Played in this order: the rules see each consignment's effects on the next (the first
# inspection gives the brand an inspection history; the recall and complaints come before the
# third). Which decision each gets is the rules' call, not the plan's.
CONSIGNMENTS = (
    ConsignmentPlan("CN-NS-2025-000101", 101, 0),
    ConsignmentPlan("CN-NS-2025-000102", 102, 9),
    ConsignmentPlan("CN-NS-2025-000103", 103, 23),
)

# Where consumers scan from (ISO 3166-2): the buyer in Guangzhou; the clone's three cities.
BUYER_REGION = "CN-GD"
CLONE_REGIONS = (("CN-SH", "Shanghai"), ("CN-BJ", "Beijing"), ("CN-SC", "Chengdu"))
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
        from ledger.codes import org_id

        return org_id(self.gln)

    @property
    def org_hex(self) -> str:
        return "0x" + self.org.hex()


def members() -> list[Member]:
    from ledger.journey import check_digit, organisations

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
        from ledger.keystore import load_key, new_key

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
        from ledger.chain import Chain
        from ledger.signing import CaptureDomain
        from ledger.transactor import Transactor

        self.w3 = w3
        self.deployment = deployment
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
        from ledger.deployment import DEFAULT_OPERATOR_GLN
        from ledger.transactor import Transactor

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
        from ledger.codes import org_id

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
        from ledger.request_signing import sign_request

        m = self.parties[who]
        raw = b"" if body is None else json.dumps(body).encode()
        headers = sign_request(self.keyring.account(who).key, method, path, raw,
                               org=m.org_hex).headers()
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self.http.request(method, path, content=raw or None, headers=headers)
        return _ok(response, f"{who}: {method} {path}")

    def signed_at(self) -> int:
        # A key is valid from the block that added it; a devnet's block clock may run ahead.
        return max(int(time.time()), int(self.w3.eth.get_block("latest")["timestamp"]))

    def capture(self, who: str, document: dict[str, Any]) -> list[str]:
        """Sign `document` as `who` and POST it; the event ids the gateway accepted."""
        from ledger.capture import events_tree
        from ledger.event_hash import event_hashes
        from ledger.signing import sign_capture, signature_to_headers

        ids = event_hashes(document)
        self._nonce += 1
        sig = sign_capture(bytes(self.keyring.account(who).key), self.domain,
                           events_tree(ids).root, len(ids), self.parties[who].org, self._nonce,
                           self.signed_at())
        response = self.http.post("/capture", content=json.dumps(document).encode(),
                                  headers={**signature_to_headers(sig),
                                           "Content-Type": "application/ld+json"})
        job = _ok(response, f"{who}: POST /capture").json()
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
        from ledger.journey import _START_MS, build_journey

        journey = build_journey(plan.seed, start_ms=_START_MS + plan.day * _DAY_MS)
        journey = self.issue_codes(journey)
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
        risk = self.request("customs", "POST", f"/consignments/{plan.ref}/risk", {
            "enterprise": self.parties["manufacturer"].gln, "originCountry": "NZ",
            "category": HS_INFANT_FORMULA, "eventIds": covered}).json()
        decision = risk["decision"]
        fired = [r["id"] for r in risk["fired"]]
        self.step(f"{plan.ref}: risk score {risk.get('score')} → {decision} "
                  f"(rules: {', '.join(fired) or 'none'})")
        record = {"ref": plan.ref, "decision": decision, "score": risk.get("score"),
                  "rules": fired, "inspection": "NOT_INSPECTED"}
        self.decide(plan.ref, decision, "NOT_INSPECTED", covered, arrived + _HOUR_MS, pallets,
                    risk)
        if decision == "NORMAL_CONTROL":
            before = set(ids)
            play(("customs",))  # the yard inspection and a sampled case, as the journey has them
            covered += [ids[p] for p in sorted(set(ids) - before)]
            last = max(_ms(event(p)["eventTime"]) for p in set(ids) - before)
            self.decide(plan.ref, decision, "PASSED", covered, last + _HOUR_MS, pallets, risk)
            record["inspection"] = "PASSED"
            self.step(f"{plan.ref}: inspected at the yard (sample case opened): PASSED, released")
        if decision == "IMMEDIATE_CONTROL":
            record["released"] = False
            self.step(f"{plan.ref}: held at Nansha port under immediate control")
            return {**record, "journey": journey}
        play(("warehouse", "platform"))
        record["released"] = True
        record["sold"] = len(journey.sold)
        self.step(f"{plan.ref}: received and broken down in the bonded warehouse; "
                  f"{len(journey.sold)} cans sold by the platform")
        return {**record, "journey": journey}

    def decide(self, ref: str, decision: str, inspection: str, covered: Sequence[str],
               at_ms: int, pallets: Sequence[str], risk: dict[str, Any]) -> None:
        """Customs records the decision on CustomsRelease with its own key, and captures it as
        a signed `inspecting` event (what the gateway proves an item's customs status from)."""
        from gateway.routes.customs import parse_event_id
        from ledger.customs import (
            Declaration,
            Inspection,
            consignment_key,
            events_root,
            inspecting_document,
            inspecting_event,
        )
        from ledger.risk import Decision, load_rules

        rules = load_rules(risk["rulesVersion"])
        event_ids = tuple(parse_event_id(e) for e in covered)
        declaration = Declaration(ref, self.parties["manufacturer"].org, "NZ",
                                  HS_INFANT_FORMULA, event_ids)
        self.chain.record_decision(self.tx["customs"], consignment_key(ref), decision,
                                   inspection, events_root(event_ids), rules.version,
                                   bytes.fromhex(rules.sha256))
        # Business time: the decision follows the arrival (or the inspection) in the journey.
        event = inspecting_event(declaration, Decision.parse(decision), Inspection.parse(inspection),
                                 rules, event_time=_iso_ms(at_ms), epcs=pallets,
                                 read_point=_customs_site(self.parties["customs"].gln))
        # The risk explanation travels with customs' signature, for the regulator's console.
        event["zhenzhi:riskScore"] = risk.get("score")
        event["zhenzhi:rulesFired"] = [r["id"] for r in risk["fired"]]
        self.capture("customs", inspecting_document(event, created=_iso_ms(at_ms)))
        self.counts["decisions"] += 1

    # --- consumers ----------------------------------------------------------------------

    def scan(self, epc: str, region: str) -> str:
        """A consumer's phone opening the Digital Link: the page's verdict."""
        gtin, serial = _gtin_serial(epc)
        response = self.http.get(f"/01/{gtin}/21/{quote(serial, safe='')}",
                                 params={"region": region},
                                 headers={"Accept": "text/html", "Accept-Language": "zh-CN,en"})
        page = _ok(response, f"scan {epc}").text
        m = _VERDICT.search(page)
        if m is None:
            raise InvalidInputError(f"the consumer page of {epc} shows no verdict")
        self.counts["scans"] += 1
        return m.group(1)

    def complain(self, epc: str, category: str, message: str) -> None:
        gtin, serial = _gtin_serial(epc)
        response = self.http.post("/complaints", json={
            "code": f"https://id.gs1.org/01/{gtin}/21/{serial}", "category": category,
            "message": message})
        _ok(response, "POST /complaints")
        self.counts["complaints"] += 1


def _customs_site(gln: str) -> str:
    return f"https://id.gs1.org/414/{gln}/254/inspection-yard"


def _gtin_serial(epc: str) -> tuple[str, str]:
    gtin, serial = epc.split("/01/", 1)[1].split("/21/", 1)
    return gtin, serial


def _ok(response: Any, what: str) -> Any:
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
    for name, epc in (("genuine", genuine), ("clone", cloned), ("recalled", recalled)):
        player.item_labels(f"item-{name}", epc)

    wait_anchored()
    step("anchoring: every capture is in a Merkle root on TraceAnchor")
    verdicts: dict[str, str] = {}
    verdicts["genuine"] = player.scan(genuine, BUYER_REGION)
    step(f"consumer (Guangzhou) scans a genuine can: {verdicts['genuine']}")
    player.scan(cloned, BUYER_REGION)
    for region, city in CLONE_REGIONS:
        verdicts["clone"] = player.scan(cloned, region)
        player.complain(cloned, "counterfeit",
                        f"Bought in {city}; the seller's tin looks different and the code says "
                        "it was already sold to someone else.")
    step(f"the same code, copied, scanned in {', '.join(c for _, c in CLONE_REGIONS)}: "
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
    verdicts["recalled"] = player.scan(recalled, "CN-ZJ")
    player.complain(recalled, "quality", "The seal under the lid was broken when opened.")
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
               "recalled": item("recalled", recalled)},
        consignments=[{k: v for k, v in p.items() if k != "journey"} for p in played],
        labels=player.labels, counts=dict(player.counts),
        members=[{"key": m.key, "name": m.name, "gln": m.gln, "roles": ",".join(m.roles)}
                 for m in player.parties.values()],
        played_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _admin_key(chain_id: int) -> str:
    key = os.environ.get("ZHENZHI_DEPLOYER_KEY")
    if key:
        return key
    if chain_id != 31337:
        raise InvalidInputError(f"chain {chain_id} is not the local devnet: set "
                                "ZHENZHI_DEPLOYER_KEY to the consortium admin's key")
    from ledger.transactor import anvil_dev_key

    return anvil_dev_key(0)


def check_port(host: str, port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            raise PortInUseError(f"port {port} on {host} is in use (another gateway?): "
                                 "stop it or pass --port P") from None


@contextmanager
def _gateway(var: Path, rpc_url: str, manifest: Path, keyring: Keyring, host: str,
             port: int) -> Iterator[Any]:
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings
    from gateway.traceability import TraceabilitySettings

    base = f"http://{host}:{port}"
    settings = GatewaySettings(
        database_url=f"sqlite:///{var / 'zhenzhi.db'}", rpc_url=rpc_url, manifest=manifest,
        run_anchor_worker=True, anchor_keyfile=keyring.path("operator-anchorer"),
        anchor_passphrase=keyring.passphrase, anchor_interval_s=0.5, public_url=base)
    app = create_app(settings)
    # Labels encode this gateway's resolver, so a phone on this machine's network can scan.
    app.state.traceability_settings = TraceabilitySettings(resolver_base_url=base)
    server = ThreadedServer(app, host=host, port=port).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def demo_gateway(var: Path, *, rpc_url: str, manifest: Path, port: int = 8000,
                 host: str = "127.0.0.1", console: Any = None
                 ) -> Iterator[tuple[DemoResult, str]]:
    """Play the demo into `var` (or find it there) and yield the record and the URL of the
    gateway serving it; the gateway stops when the block ends."""
    import httpx
    from rich.console import Console
    from web3 import Web3

    from ledger.chain import Chain
    from ledger.deployment import Deployment

    console = console or Console(stderr=True)
    var = var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    check_port(host, port)
    deployment = Deployment.load(manifest)
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
    if not w3.is_connected():
        raise InvalidInputError(f"no chain answers at {rpc_url}; start it (scripts/run does)")
    record_path = var / DEMO_RECORD
    keyring = Keyring(var / "keys")
    result: DemoResult | None = None
    if record_path.exists():
        result = DemoResult.from_json(json.loads(record_path.read_text(encoding="utf-8")))
        chain = Chain(w3, deployment)
        anchorer = keyring.account("operator-anchorer")
        if (result.consortium != deployment.address("Consortium")
                or chain.org_of_key(anchorer.address) is None):
            raise DemoStateError(
                f"{record_path} was played on another chain or deployment than "
                f"{deployment.address('Consortium')} at {rpc_url}; start fresh with "
                "`scripts/run --reset`")
        result.reused = True
    elif (var / "zhenzhi.db").exists() or any((var / "keys").glob("*.json")):
        raise DemoStateError(f"{var} holds an unfinished demo run (no {DEMO_RECORD}); start "
                             "fresh with `scripts/run --reset`")
    else:
        # The gateway's anchoring key must be on chain before the gateway's worker starts.
        from ledger.codes import org_id
        from ledger.deployment import DEFAULT_OPERATOR_GLN

        bootstrap = Player(w3, deployment, _admin_key(deployment.chainId), keyring, None, var,
                           lambda _: None)
        with console.status("admitting the operator's anchoring key"):
            bootstrap._admit(org_id(DEFAULT_OPERATOR_GLN), "", ("ANCHORER",),
                             keyring.account("operator-anchorer").address)

    with _gateway(var, rpc_url, manifest, keyring, host, port) as server, \
            httpx.Client(base_url=server.url, timeout=120.0) as http:
        if result is None:
            started = time.monotonic()
            player = Player(w3, deployment, _admin_key(deployment.chainId), keyring, http, var,
                            lambda line: console.print(f"  [green]✓[/] {line}"))

            def wait_anchored() -> None:
                _wait_anchored(http, player.captures, console)

            console.rule("[bold]Zhenzhi demo: NZ infant formula → Nansha → Chinese consumers")
            result = play(player, wait_anchored=wait_anchored)
            result.counts["seconds"] = round(time.monotonic() - started)
            tmp = record_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
            tmp.replace(record_path)
        yield result, server.url


def run_demo(var: Path, *, rpc_url: str, manifest: Path, port: int = 8000,
             host: str = "127.0.0.1", serve: bool = True, console: Any = None) -> DemoResult:
    """Play the demo into `var` (or reuse what is there), print the summary and, with `serve`,
    keep the gateway running until Ctrl-C. Returns the record (also in `var/demo.json`)."""
    from rich.console import Console

    console = console or Console(stderr=True)
    with demo_gateway(var, rpc_url=rpc_url, manifest=manifest, port=port, host=host,
                      console=console) as (result, url):
        print_summary(console, result, url, var.resolve())
        if serve:
            console.print(f"\nServing on [bold]{url}[/] — Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                console.print("stopping the gateway (the chain keeps running)")
    return result


def _wait_anchored(http: Any, capture_ids: Sequence[str], console: Any,
                   timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(capture_ids)
    with console.status("waiting for the anchoring worker") as status:
        while pending:
            job = _ok(http.get(f"/capture/{pending[-1]}"), "GET /capture").json()
            if job.get("anchored"):
                pending = [c for c in pending[:-1]
                           if not _ok(http.get(f"/capture/{c}"), "GET /capture").json()["anchored"]]
                continue
            if time.monotonic() > deadline:
                raise InvalidInputError(f"{len(pending)} captures not anchored after {timeout}s")
            status.update(f"waiting for the anchoring worker ({len(pending)} captures pending)")
            time.sleep(0.3)


def print_summary(console: Any, result: DemoResult, base: str, var: Path) -> None:
    from rich.panel import Panel
    from rich.table import Table

    c = result.counts
    what = Table.grid(padding=(0, 2))
    what.add_row("consortium", f"{c.get('members', 0)} organisations admitted on Consortium "
                               f"(keys: {var / 'keys'}, passphrase in keys/.passphrase, 0600)")
    what.add_row("events", f"{c.get('events', 0)} signed EPCIS events in {c.get('captures', 0)} "
                           "captures, all anchored on TraceAnchor")
    what.add_row("codes", f"{c.get('codes', 0)} item codes in {c.get('lots', 0)} lots on "
                          "CodeRegistry")
    for k in result.consignments:
        fate = ("released" if k.get("released") else "held at the port")
        what.add_row("customs", f"{k['ref']}: {k['decision']} (score {k.get('score')}, "
                                f"inspection {k['inspection']}) → {fate}")
    what.add_row("consumers", f"{c.get('scans', 0)} scans, {c.get('complaints', 0)} complaints, "
                              f"{c.get('recalls', 0)} recall")
    if c.get("seconds") is not None:
        what.add_row("time", f"{c['seconds']} s")
    title = "reused from var/demo.json" if result.reused else "what it did"
    console.print(Panel(what, title=f"[bold]Zhenzhi demo — {title}", expand=False))

    # URLs whole, one per line: a table would wrap or truncate them, and they are for copying.
    items = result.items
    rows = [
        ("genuine can", base + items["genuine"]["path"],
         f"{items['genuine']['verdict']}: its journey NZ → Nansha customs → bonded warehouse → "
         "sale, and every check the verifier made"),
        ("cloned code", base + items["clone"]["path"],
         f"{items['clone']['verdict']}: the same code scanned in 4 regions after its sale"),
        ("recalled can", base + items["recalled"]["path"],
         f"{items['recalled']['verdict']}: the recall banner for its lot"),
        ("console", base + "/console",
         "members, credit grades, anchoring lag, customs decisions, complaints, recalls, "
         "charts (loopback only)"),
        ("API docs", base + "/docs", "the EPCIS 2.0 REST binding and the traceability API"),
    ]
    console.print("[bold]Open:[/]")
    for name, url, what in rows:
        console.print(f"  [bold]{name:<13}[/] {url}", soft_wrap=True)
        console.print(f"  {'':<13} [dim]{what}[/]")
    sheets = [p for p in result.labels if p.endswith(".pdf")]
    console.print(f"QR labels: {var / 'labels'} ({len(sheets)} lot sheets as PDF; the three "
                  "items above as PNG and SVG, e.g. item-genuine.png)")
    console.print("Stop: Ctrl-C (the chain keeps running: hardhat-free-devnet/devnet down "
                  "--dir var/devnet). Start over: scripts/run --reset")


def register(app: Any) -> None:
    """Add `zhenzhi demo` to the CLI."""
    @app.command("demo")
    def demo_cmd(
        var: Annotated[Path, typer.Option("--var", help="state directory (keys, database, "
                                          "labels, demo.json)")] = Path("var"),
        port: Annotated[int, typer.Option(help="gateway port (loopback)")] = 8000,
        no_serve: Annotated[bool, typer.Option("--no-serve", help="play (or reuse) the "
                                               "journey, print the summary and exit")] = False,
        rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
    ) -> None:
        """The main job: play a cross-border journey (consortium, codes, signed events,
        customs, consumers, a clone and a recall) and serve it until Ctrl-C."""
        try:
            run_demo(var, rpc_url=rpc, manifest=Path(manifest), port=port, serve=not no_serve)
        except PortInUseError as exc:
            print(f"zhenzhi demo: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None
        except LedgerError as exc:
            print(f"zhenzhi demo: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
