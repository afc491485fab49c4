"""Scan-history rules: when the same code turns up where one physical item cannot be.

A genuine item is sold once and then travels with one buyer. A copied QR code is printed on
many fakes that are scanned wherever they are sold. So we count, in the scans the public made:

- distinct clients, not requests: one phone scanning a thousand times is one buyer (and
  anyone could otherwise flag a rival's item by scanning it 51 times);
- distinct places in a sliding window: one item does not turn up in many countries within
  days. A place is what the gateway observed from the client's address (an ISO 3166-1
  country); a scan whose place is unknown is no place at all, not a place called "unknown".

After the retail sale the scans since the sale are judged. Before it, every public scan is: a
code nobody has bought yet that is scanned by many people in many countries was printed on
fakes (a counterfeiter prefers an unsold serial, since its real twin will not contradict it).
The supply chain does not scan through the consumer resolver, and an import journey crosses
few enough countries to stay under the limit.

Pure: scans in, one `Check` out. Thresholds are data (`ClonePolicy`), not code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.proofs.bundle import ScanRecord
from verifier.verdict import Check, CheckName, Outcome, VerdictKind

__all__ = ["ClonePolicy", "check_scans"]

_NO_PLACE = frozenset({"", "unknown"})


@dataclass(frozen=True, slots=True)
class ClonePolicy:
    # More than this many distinct places inside one window is suspicious: a buyer may carry
    # the item home (2 countries) and travel once (3), not further.
    max_regions: int = 3
    window_s: int = 30 * 86_400
    # A code scanned by more distinct clients than this was copied (a household has a few
    # phones; a shop's shelf a few curious shoppers).
    max_clients: int = 50


def _client(scan: ScanRecord, index: int) -> str:
    # A scan from an older bundle names no client: it counts as a client of its own.
    return scan.client if scan.client is not None else f"#{index}"


def check_scans(scans: Sequence[ScanRecord], sold_at: int | None, *,
                policy: ClonePolicy = ClonePolicy(), now: int | None = None) -> Check:
    """Judge the scan history of one code, given when (if ever) it was sold."""
    judged = sorted((s for s in scans if sold_at is None or s.at >= sold_at), key=lambda s: s.at)
    if now is not None:
        judged = [s for s in judged if s.at <= now]
    clients = {_client(s, i) for i, s in enumerate(judged)}
    when = "since its sale" if sold_at is not None else "although it was never sold"
    details: dict[str, object] = {"scans": len(judged), "clients": len(clients),
                                  "sold": sold_at is not None}
    if sold_at is not None:
        details |= {"scansAfterSale": len(judged), "soldAt": sold_at}
    if len(clients) > policy.max_clients:
        return Check(CheckName.SCAN_HISTORY, Outcome.FAIL,
                     f"scanned by {len(clients)} different clients {when} "
                     f"(more than {policy.max_clients})",
                     fails_as=VerdictKind.SUSPECTED_CLONE, details=details)
    # Sliding window over scans in time order: the most distinct places seen in any window.
    worst: set[str] = set()
    start = 0
    for end in range(len(judged)):
        while judged[end].at - judged[start].at > policy.window_s:
            start += 1
        regions = {s.region for s in judged[start:end + 1] if s.region not in _NO_PLACE}
        if len(regions) > len(worst):
            worst = regions
    details["maxRegionsInWindow"] = len(worst)
    if len(worst) > policy.max_regions:
        days = policy.window_s // 86_400
        return Check(CheckName.SCAN_HISTORY, Outcome.FAIL,
                     f"scanned in {len(worst)} places within {days} days {when} "
                     f"({', '.join(sorted(worst))})",
                     fails_as=VerdictKind.SUSPECTED_CLONE,
                     details={**details, "regions": sorted(worst)})
    return Check(CheckName.SCAN_HISTORY, Outcome.PASS,
                 f"{len(judged)} scans by {len(clients)} client(s) {when}, "
                 f"in at most {len(worst)} place(s) at a time",
                 fails_as=VerdictKind.SUSPECTED_CLONE, details=details)
