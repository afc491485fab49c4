"""Scan-history rules: when the same code turns up where one physical item cannot be.

A genuine item is sold once and then travels with one buyer. A copied QR code is printed on
many fakes that are scanned wherever they are sold. So after the retail sale we count the
distinct regions (and scans) in a sliding window: one item does not turn up in many provinces
within days. Before the sale, scans come from the supply chain and are not judged.

Pure: scans in, one `Check` out. Thresholds are data (`ClonePolicy`), not code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.proofs.bundle import ScanRecord
from verifier.verdict import Check, CheckName, Outcome, VerdictKind

__all__ = ["ClonePolicy", "check_scans"]


@dataclass(frozen=True, slots=True)
class ClonePolicy:
    # More than this many distinct regions inside one window after the sale is suspicious:
    # a buyer may carry the item home (2 regions) and travel once (3), not further.
    max_regions: int = 3
    window_s: int = 30 * 86_400
    # A code that is scanned this often after its sale was copied (a shopper scans a few times).
    max_scans: int = 50


def check_scans(scans: Sequence[ScanRecord], sold_at: int | None, *,
                policy: ClonePolicy = ClonePolicy(), now: int | None = None) -> Check:
    """Judge the scan history of one code, given when (if ever) it was sold."""
    if sold_at is None:
        return Check(CheckName.SCAN_HISTORY, Outcome.SKIPPED,
                     "not sold yet: supply-chain scans are not judged",
                     details={"scans": len(scans)})
    after = sorted((s for s in scans if s.at >= sold_at), key=lambda s: s.at)
    if now is not None:
        after = [s for s in after if s.at <= now]
    details = {"scansAfterSale": len(after), "soldAt": sold_at}
    if len(after) > policy.max_scans:
        return Check(CheckName.SCAN_HISTORY, Outcome.FAIL,
                     f"scanned {len(after)} times since its sale (more than {policy.max_scans})",
                     fails_as=VerdictKind.SUSPECTED_CLONE, details=details)
    # Sliding window over scans in time order: the most distinct regions seen in any window.
    worst: set[str] = set()
    start = 0
    for end in range(len(after)):
        while after[end].at - after[start].at > policy.window_s:
            start += 1
        regions = {s.region for s in after[start:end + 1] if s.region}
        if len(regions) > len(worst):
            worst = regions
    details["maxRegionsInWindow"] = len(worst)
    if len(worst) > policy.max_regions:
        days = policy.window_s // 86_400
        return Check(CheckName.SCAN_HISTORY, Outcome.FAIL,
                     f"scanned in {len(worst)} regions within {days} days after its sale "
                     f"({', '.join(sorted(worst))})",
                     fails_as=VerdictKind.SUSPECTED_CLONE,
                     details={**details, "regions": sorted(worst)})
    return Check(CheckName.SCAN_HISTORY, Outcome.PASS,
                 f"{len(after)} scans since the sale, in at most {len(worst)} region(s) at a time",
                 fails_as=VerdictKind.SUSPECTED_CLONE, details=details)
