"""The real `hardhat-free-devnet/devnet` script: up, status, reuse, port clash, kill -9, down."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account

from ledger.chain.transactor import Transactor, anvil_dev_key
from tests.conftest import DEVNET, AnvilProcess, free_port

pytestmark = pytest.mark.chain


def devnet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(DEVNET), *args], capture_output=True, text=True,
                          timeout=60)


def test_up_status_reuse_clash_down(tmp_path: Path) -> None:
    port = free_port()
    first = devnet("up", "--port", str(port), "--dir", str(tmp_path / "a"), "--json")
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout)
    try:
        assert info["rpcUrl"] == f"http://127.0.0.1:{port}" and info["reused"] is False
        status = devnet("status", "--dir", str(tmp_path / "a"), "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["blockNumber"] == 0

        again = devnet("up", "--port", str(port), "--dir", str(tmp_path / "a"), "--json")
        assert again.returncode == 0 and json.loads(again.stdout)["pid"] == info["pid"]

        clash = devnet("up", "--port", str(port), "--dir", str(tmp_path / "b"))
        assert clash.returncode == 1
        assert clash.stderr.strip().count("\n") == 0
        assert f"port {port}" in clash.stderr and "taken" in clash.stderr
        assert not (tmp_path / "b" / "anvil.pid").exists()
    finally:
        down = devnet("down", "--dir", str(tmp_path / "a"))
    assert down.returncode == 0 and f"pid {info['pid']}" in down.stdout
    gone = devnet("status", "--dir", str(tmp_path / "a"))
    assert gone.returncode == 3 and "not running" in gone.stdout


def test_binds_loopback_only(tmp_path: Path) -> None:
    chain = AnvilProcess(tmp_path, free_port())
    chain.up()
    try:
        pid = int((tmp_path / "anvil.pid").read_text())
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert args[args.index(b"--host") + 1] == b"127.0.0.1"
    finally:
        chain.down()


def test_state_survives_kill_9(tmp_path: Path) -> None:
    chain = AnvilProcess(tmp_path, free_port())
    chain.up()
    try:
        w3 = chain.web3()
        sender = Transactor(w3, Account.from_key(anvil_dev_key(1)))
        receipt = sender.send(to=Account.from_key(anvil_dev_key(2)).address, value=12345, gas=21000)
        time.sleep(2.2)  # --state-interval 1: at most a second of state may be lost
        chain.kill9()
        chain.up()
        w3 = chain.web3()
        assert w3.eth.block_number >= receipt["blockNumber"]
        assert w3.eth.get_transaction_receipt(receipt["transactionHash"])["status"] == 1
    finally:
        chain.down()


def _wait_for_good_copy_holding(state: Path, needle: str, timeout: float = 60.0) -> None:
    good = state.with_name(state.name + ".good")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if good.exists() and needle in good.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"the keeper did not copy a save holding {needle} within {timeout:.0f}s")


def test_state_cut_short_by_kill_9_mid_save_is_restored(tmp_path: Path) -> None:
    # Anvil rewrites state.json in place: a kill -9 during a save leaves it cut short, and anvil
    # then refuses to start ("failed to parse json file"). `up` must come back with the chain.
    chain = AnvilProcess(tmp_path, free_port())
    chain.up()
    state = tmp_path / "state.json"
    try:
        w3 = chain.web3()
        sender = Transactor(w3, Account.from_key(anvil_dev_key(1)))
        receipt = sender.send(to=Account.from_key(anvil_dev_key(2)).address, value=777, gas=21000)
        tx = receipt["transactionHash"].hex().removeprefix("0x")
        _wait_for_good_copy_holding(state, tx)
        chain.kill9()
        whole = state.read_bytes()
        state.write_bytes(whole[: len(whole) // 2])  # what a kill during the save leaves
        again = devnet("up", "--port", str(chain.port), "--dir", str(tmp_path))
        assert again.returncode == 0, again.stderr
        assert "cut short" in again.stderr and "state.json.broken" in again.stderr
        assert (tmp_path / "state.json.broken").read_bytes() == whole[: len(whole) // 2]
        w3 = chain.web3()
        assert w3.eth.get_transaction_receipt(receipt["transactionHash"])["status"] == 1
    finally:
        chain.down()


def test_state_cut_short_with_no_copy_is_one_clear_line_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(b'{"block": {"number": "0x1"')
    out = devnet("up", "--port", str(free_port()), "--dir", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0
    assert "cut short" in out.stderr and "devnet reset" in out.stderr
    assert state.read_bytes() == b'{"block": {"number": "0x1"'  # nothing thrown away
    assert not (tmp_path / "anvil.pid").exists()
