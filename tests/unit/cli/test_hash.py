"""`zhenzhi hash FILE` through the real command entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ledger.paths import REPO_ROOT, SHARED_DIR

VECTORS = SHARED_DIR / "conformance" / "event-hash"
pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"no conformance data at {VECTORS}")


def _zhenzhi(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from gateway.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          input=stdin, capture_output=True, cwd=REPO_ROOT, timeout=120)


@pytest.mark.parametrize("name", ["epcisDocWithVariousEventTypes", "epcisDocWithSingleEvent"])
def test_prints_one_id_per_event_in_order(name: str) -> None:
    out = _zhenzhi("hash", str(VECTORS / f"{name}.jsonld"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().splitlines() == (VECTORS / f"{name}.hashes").read_text().split()


def test_reads_stdin() -> None:
    path = VECTORS / "epcisDocWithShippingAndTransportingEvent.jsonld"
    out = _zhenzhi("hash", "-", stdin=path.read_bytes())
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split() == path.with_suffix(".hashes").read_text().split()


@pytest.mark.parametrize("stdin", [b"{not json", b'{"type": "EPCISDocument"}', b"[]"])
def test_bad_input_is_one_plain_line_and_nonzero(stdin: bytes) -> None:
    out = _zhenzhi("hash", "-", stdin=stdin)
    assert out.returncode != 0
    assert out.stdout == b""
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zhenzhi: -: ")


def test_missing_file(tmp_path: Path) -> None:
    out = _zhenzhi("hash", str(tmp_path / "absent.jsonld"))
    assert out.returncode != 0
    assert len(out.stderr.decode().strip().splitlines()) == 1
