"""Event logs read in block ranges a node accepts.

Nodes cap `eth_getLogs`: Besu refuses a range over `--rpc-max-logs-range` (1,000 blocks by
default), hosted providers cap ranges or result counts. `paged_logs` asks in windows of at most
`max_range` blocks and, when a node refuses a window anyway, halves it and asks again, down to
one block; only a one-block window that is still refused is an error. Standard JSON-RPC only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from web3 import Web3
from web3.exceptions import Web3RPCError

from ledger.errors import ChainError, InvalidInputError

__all__ = ["DEFAULT_LOG_BLOCK_RANGE", "paged_logs"]

DEFAULT_LOG_BLOCK_RANGE = 1000


def paged_logs(w3: Web3, params: Mapping[str, Any], from_block: int, to_block: int | None = None,
               *, max_range: int = DEFAULT_LOG_BLOCK_RANGE) -> Iterator[Any]:
    """The logs matching `params` (address, topics) from `from_block` to `to_block` (default:
    the head when called), oldest first, in windows the node accepts."""
    if max_range < 1:
        raise InvalidInputError("the log block range must be at least 1", max_range=max_range)
    last = int(w3.eth.block_number) if to_block is None else int(to_block)
    start, step = max(0, int(from_block)), max_range
    while start <= last:
        end = min(last, start + step - 1)
        try:
            logs = w3.eth.get_logs({**params, "fromBlock": start, "toBlock": end})
        except (Web3RPCError, ValueError) as exc:
            if step == 1:
                raise ChainError(f"the node refuses eth_getLogs even for block {start}: {exc}",
                                 block=start) from exc
            step = max(1, step // 2)
            continue
        yield from logs
        start = end + 1
