"""Locally signed transactions: the only way Zhenzhi writes to a chain.

Never `eth_sendTransaction` and never an anvil-only method, so the same code writes to anvil, Besu
or GoQuorum. A `Transactor` owns one account, keeps its own nonce (so many transactions can be in
flight), prices EIP-1559 fees from the latest block (legacy pricing on chains without a base
fee, such as a zero-gas consortium), and waits for receipts.
"""

from __future__ import annotations

import threading
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted
from web3.types import TxReceipt

from ledger.errors import ChainError

__all__ = ["Transactor", "TransactionFailedError", "anvil_dev_key"]

# The well-known keys of the dev mnemonic ("test test ... junk"); for local chains only.
_DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


def anvil_dev_key(index: int) -> str:
    """Private key `index` of the public dev mnemonic. Never use on a real network."""
    return _DEV_KEYS[index]


class TransactionFailedError(ChainError):
    slug = "transaction-failed"
    title = "Transaction failed"


class Transactor:
    """Signs and sends transactions for one account, tracking its nonce locally."""

    def __init__(self, w3: Web3, account: LocalAccount, *, gas_headroom: float = 1.25,
                 receipt_timeout: float = 120.0) -> None:
        self.w3 = w3
        self.account = account
        self.gas_headroom = gas_headroom
        self.receipt_timeout = receipt_timeout
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def reset_nonce(self) -> None:
        """Forget the local nonce; the next send asks the chain (after a restart or a drop)."""
        with self._lock:
            self._nonce = None

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:
            return {"gasPrice": int(self.w3.eth.gas_price)}
        tip = 1_000_000_000 if base else 0
        return {"maxFeePerGas": int(base) * 2 + tip, "maxPriorityFeePerGas": tip}

    def build(self, call: Any = None, *, to: str | None = None, data: bytes | str = b"",
              value: int = 0, gas: int | None = None) -> dict[str, Any]:
        """Transaction fields for a contract function call, or raw `to`/`data`."""
        base: dict[str, Any] = {"from": self.address, "value": value, "chainId": self.chain_id}
        base.update(self._fees())
        try:
            if call is not None:
                tx = dict(call.build_transaction({**base, "gas": gas or 1}))
                if gas is None:
                    tx.pop("gas")
                    estimate = self.w3.eth.estimate_gas({k: v for k, v in tx.items()
                                                         if k in ("from", "to", "data", "value")})
                    tx["gas"] = int(estimate * self.gas_headroom)
            else:
                tx = {**base, "data": data}
                if to is not None:
                    tx["to"] = to
                if gas is None:
                    estimate = self.w3.eth.estimate_gas({k: v for k, v in tx.items()
                                                         if k in ("from", "to", "data", "value")})
                    gas = int(estimate * self.gas_headroom)
                tx["gas"] = gas
        except (ContractCustomError, ContractLogicError):
            raise
        except (ConnectionError, OSError) as exc:
            raise ChainError(f"chain unreachable: {exc}") from exc
        return tx

    def sign_and_send(self, tx: dict[str, Any]) -> bytes:
        """Assign the next nonce, sign locally and broadcast; returns the tx hash."""
        with self._lock:
            if self._nonce is None:
                self._nonce = int(self.w3.eth.get_transaction_count(self.address, "pending"))
            tx = {**tx, "nonce": self._nonce}
            tx.pop("from", None)
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except Exception:
                self._nonce = None
                raise
            self._nonce += 1
        return bytes(tx_hash)

    def wait(self, tx_hash: bytes) -> TxReceipt:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.receipt_timeout, poll_latency=0.05)
        except TimeExhausted as exc:
            raise ChainError(f"no receipt for 0x{tx_hash.hex()} after {self.receipt_timeout}s",
                             tx_hash="0x" + tx_hash.hex()) from exc
        if receipt["status"] != 1:
            raise TransactionFailedError(f"transaction 0x{tx_hash.hex()} reverted",
                                         tx_hash="0x" + tx_hash.hex())
        return receipt

    def send(self, call: Any = None, **kwargs: Any) -> TxReceipt:
        """Build, sign, send and wait: the common case."""
        return self.wait(self.sign_and_send(self.build(call, **kwargs)))

    def deploy(self, abi: list[Any], bytecode: str, *args: Any) -> tuple[str, TxReceipt]:
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        receipt = self.send(factory.constructor(*args))
        address = receipt["contractAddress"]
        if not address:
            raise TransactionFailedError("deployment receipt has no contract address")
        return Web3.to_checksum_address(address), receipt
