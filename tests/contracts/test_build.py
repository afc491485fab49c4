"""Contract builds are deterministic and the committed artifacts are current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from ledger.chain import compiler
from ledger.errors import BuildError
from ledger.paths import ARTIFACTS_DIR

BROKEN = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Broken { function f() external { undefinedThing(); } }
"""


def test_committed_artifacts_equal_a_fresh_compile() -> None:
    # The committed artifacts were written by another process, earlier: equality proves that
    # the build is deterministic across runs, and a stale artifact fails CI here.
    assert compiler.check() == []


def test_artifacts_pin_compiler_settings() -> None:
    index = json.loads((ARTIFACTS_DIR / "index.json").read_text())
    assert index["evmVersion"] == compiler.EVM_VERSION
    assert index["solcVersion"].startswith("0.8.37")
    for name in ("Consortium", "TraceAnchor", "CodeRegistry", "CustomsRelease"):
        art = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
        settings = art["metadata"]["settings"]
        assert settings["optimizer"]["enabled"] is True
        assert settings["evmVersion"] == compiler.EVM_VERSION
        assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 100
        # No absolute path of this machine may leak into what gets committed.
        assert "/work/" not in (ARTIFACTS_DIR / f"{name}.json").read_text()


def test_compile_error_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "contracts"
    src.mkdir()
    (src / "Broken.sol").write_text(BROKEN)
    with pytest.raises(BuildError) as err:
        compiler.build(out_dir=tmp_path / "out", src_dir=src)
    assert "contracts/Broken.sol:3" in str(err.value)
    assert "undefinedThing" in str(err.value) or "Undeclared identifier" in str(err.value)
    assert not (tmp_path / "out").exists(), "a failed build must not leave artifacts behind"


def test_cli_check_reports_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "build", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
