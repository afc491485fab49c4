"""What a test EIP-1193 wallet does with `eth_sendTransaction`: fill in nonce, gas and fees from
the chain, sign with its devnet key, send the raw bytes, answer the hash."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from web3 import Web3


def signed_transaction(w3: Any, key: str | bytes, tx: dict[str, Any], *, gas: int | None = None
                       ) -> bytes:
    """`gas`: fixed, for a transaction the chain would refuse (estimating it fails)."""
    account = Account.from_key(key)
    full = {"from": account.address, "to": Web3.to_checksum_address(tx["to"]),
            "data": tx.get("data", "0x"), "value": int(tx.get("value", 0) or 0),
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(account.address, "pending")}
    full["gas"] = gas or int(w3.eth.estimate_gas(full) * 1.3)
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    full["maxPriorityFeePerGas"] = 10**9
    full["maxFeePerGas"] = base * 2 + 10**9
    del full["from"]
    return bytes(account.sign_transaction(full).raw_transaction)


def wallet_send(w3: Any, key: str | bytes, tx: dict[str, Any]) -> str:
    if tx.get("from") and tx["from"].lower() != Account.from_key(key).address.lower():
        raise ValueError(f"the page asked to send from {tx['from']}, the wallet holds another key")
    tx_hash = w3.eth.send_raw_transaction(signed_transaction(w3, key, tx))
    return "0x" + bytes(tx_hash).hex().removeprefix("0x")
