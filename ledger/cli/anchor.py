"""`zhenzhi anchor-worker`: the anchoring worker as its own process.

    zhenzhi anchor-worker --db URL --rpc URL --manifest FILE --key HEX_OR_KEYFILE
                          [--batch-size N] [--window S] [--in-flight N] [--once]

`--key` is a private key in hex (a dev chain) or an encrypted key file (passphrase as for
`zhenzhi keys`: --passphrase-file, else ZHENZHI_KEY_PASSPHRASE, else a prompt); its account must
hold ANCHORER on the deployment's Consortium. The store is migrated before the worker starts.
Only one worker anchors at a time (`Store.try_anchor_lease`); another waits its turn, or with
`--once` exits with an error.

Fault injection for the crash tests: ZHENZHI_FAULT=before_send|after_send|after_receipt makes the
process SIGKILL itself at that point (see `ledger.pipeline.anchoring`). Unset, it does nothing.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.chain_options import (
    DEFAULT_MANIFEST,
    DEFAULT_RPC,
    ManifestOption,
    RpcOption,
    web3_for,
)
from ledger.cli.output import fail, print_json
from ledger.errors import LedgerError
from ledger.runtime.heap import freeze_startup_heap

FAULT_ENV = "ZHENZHI_FAULT"
PASSPHRASE_ENV = "ZHENZHI_KEY_PASSPHRASE"  # noqa: S105 - the variable name, not a secret
_HEX_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")


def _account(key: str, passphrase_file: Path | None):
    from eth_account import Account

    if _HEX_KEY.fullmatch(key.strip()):
        return Account.from_key(key.strip())
    from ledger.proofs.keystore import load_key

    if passphrase_file is not None:
        passphrase = passphrase_file.read_text(encoding="utf-8").splitlines()[0]
    elif os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV]
    else:
        passphrase = typer.prompt("passphrase", hide_input=True)
    return load_key(Path(key), passphrase)


def register(app: typer.Typer) -> None:
    @app.command("anchor-worker")
    def anchor_worker(
        db: Annotated[str, typer.Option("--db", envvar="ZHENZHI_DB_URL",
                                        help="store URL (sqlite:///file.db, postgresql+psycopg://...)")],
        key: Annotated[str, typer.Option("--key", help="anchoring key: hex, or an encrypted key file")],
        rpc: RpcOption = DEFAULT_RPC,
        manifest: ManifestOption = DEFAULT_MANIFEST,
        batch_size: Annotated[int, typer.Option("--batch-size", help="captures per batch at most")] = 1024,
        window: Annotated[float, typer.Option("--window", help="seconds a capture may wait for a fuller batch")] = 2.0,
        in_flight: Annotated[int, typer.Option("--in-flight", help="batches sent before awaiting receipts")] = 4,
        once: Annotated[bool, typer.Option("--once", help="anchor everything pending, then exit")] = False,
        confirmations: Annotated[int, typer.Option("--confirmations", envvar="ZHENZHI_ANCHOR_CONFIRMATIONS", help="blocks on top of an anchor before it is final (0 on QBFT/IBFT)")] = 0,
        log_block_range: Annotated[int, typer.Option("--log-block-range", envvar="ZHENZHI_LOG_BLOCK_RANGE", help="most blocks one eth_getLogs request spans")] = 1000,
        passphrase_file: Annotated[Path | None, typer.Option("--passphrase-file")] = None,
    ) -> None:
        """Anchor accepted captures on TraceAnchor in Merkle batches (crash-safe, resumable)."""
        from ledger.chain.client import Chain
        from ledger.chain.deployment import Deployment
        from ledger.chain.transactor import Transactor
        from ledger.pipeline.anchoring import AnchorWorker
        from ledger.store.store import Store

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            # Checkpoints on a thread of its own, as the gateway's: SQLite's automatic one runs
            # inside a commit, and this worker commits holding the store's write turn, so
            # every gateway's committer waited while it copied the WAL (tens of ms, several
            # times a second under load).
            store = Store(db, background_checkpoint=True)
            store.migrate()
            w3 = web3_for(rpc)
            chain = Chain(w3, Deployment.load(manifest), log_block_range=log_block_range)
            worker = AnchorWorker(store, chain, Transactor(w3, _account(key, passphrase_file)),
                                  batch_size=batch_size, window=window, in_flight=in_flight,
                                  confirmations=confirmations,
                                  fault=os.environ.get(FAULT_ENV) or None)
            freeze_startup_heap()  # no 100 ms collections while it holds the write lock
            try:
                stats = worker.run(once=once, stop=stop)
            finally:
                store.close()  # stops the checkpointer after a last checkpoint
        except LedgerError as exc:
            fail(str(exc))
        print_json(vars(stats))
