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


@pytest.mark.parametrize("evm", compiler.EVM_VERSIONS)
def test_artifacts_pin_compiler_settings(evm: str) -> None:
    folder = compiler.artifacts_dir(evm)
    assert folder == (ARTIFACTS_DIR if evm == "cancun" else ARTIFACTS_DIR / evm)
    index = json.loads((folder / "index.json").read_text())
    assert index["evmVersion"] == evm
    assert index["solcVersion"].startswith("0.8.37")
    for name in ("Consortium", "TraceAnchor", "CodeRegistry", "CustomsRelease"):
        art = json.loads((folder / f"{name}.json").read_text())
        settings = art["metadata"]["settings"]
        assert settings["optimizer"]["enabled"] is True
        assert settings["evmVersion"] == evm
        assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 100
        # No absolute path of this machine may leak into what gets committed.
        assert "/work/" not in (folder / f"{name}.json").read_text()


def _opcodes(code_hex: str) -> set[int]:
    """The opcodes a bytecode executes (PUSH data skipped; the CBOR metadata tail is data)."""
    code = bytes.fromhex(code_hex.removeprefix("0x"))
    meta = int.from_bytes(code[-2:], "big") + 2
    code = code[:-meta]
    ops, i = set(), 0
    while i < len(code):
        op = code[i]
        ops.add(op)
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return ops


@pytest.mark.parametrize(("evm", "forbidden"), [("london", {0x5F, 0x5E, 0x5C, 0x5D}),
                                                ("shanghai", {0x5E, 0x5C, 0x5D})])
def test_pre_cancun_builds_use_no_newer_opcode(evm: str, forbidden: set[int]) -> None:
    """PUSH0 (0x5f) is Shanghai; MCOPY (0x5e), TLOAD/TSTORE (0x5c/0x5d) are Cancun: a chain
    before them would reject the deployment or revert at the first use."""
    for name in ("Consortium", "TraceAnchor", "CodeRegistry", "CustomsRelease"):
        art = compiler.load_artifact(name, evm_version=evm)
        assert _opcodes(art["deployedBytecode"]) & forbidden == set(), (evm, name)


def test_the_default_build_uses_push0() -> None:
    """The opcode scan sees what it forbids above: the Cancun build does use PUSH0."""
    found = set()
    for name in ("Consortium", "TraceAnchor", "CodeRegistry", "CustomsRelease"):
        found |= _opcodes(compiler.load_artifact(name)["deployedBytecode"])
    assert 0x5F in found


def test_compile_error_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "contracts"
    src.mkdir()
    (src / "Broken.sol").write_text(BROKEN)
    with pytest.raises(BuildError) as err:
        compiler.build(out_dir=tmp_path / "out", src_dir=src)
    assert "contracts/Broken.sol:3" in str(err.value)
    assert "undefinedThing" in str(err.value) or "Undeclared identifier" in str(err.value)
    assert not (tmp_path / "out").exists(), "a failed build must not leave artifacts behind"


def test_unknown_evm_version_is_refused() -> None:
    with pytest.raises(BuildError, match="unknown EVM version 'paris'"):
        compiler.artifacts_dir("paris")


def test_cli_check_reports_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "build", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
