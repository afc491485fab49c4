"""Shared fixtures. Anything that starts a chain is session-scoped: one anvil per test session
(per xdist worker), started and stopped by the real `hardhat-free-devnet/devnet` script."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from ledger.paths import DEVNET_DIR, NODE_MODULES, REPO_ROOT

DEVNET = DEVNET_DIR / "devnet"
ANVIL = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


# Hypothesis's per-example deadline (200 ms) is a timing assertion: on a shared 2-core machine
# under two xdist workers and a browser an example of the risk or state-proof properties
# took 257 ms and failed the run. Properties are about results; speed lives in scripts/bench.
settings.register_profile("zhenzhi", deadline=None)
settings.load_profile("zhenzhi")


def pytest_configure(config: pytest.Config) -> None:
    # As every entry point does: py_ecc's import raised the limit past the C stack.
    from ledger.runtime.recursion import restore_recursion_limit

    restore_recursion_limit()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AnvilProcess:
    """A devnet started for tests; `restart()` and `kill9()` serve the fault tests."""

    def __init__(self, directory: Path, port: int) -> None:
        self.dir = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def _run(self, *args: str) -> dict:
        out = subprocess.run([sys.executable, str(DEVNET), *args, "--dir", str(self.dir), "--json"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode not in (0, 3):
            raise RuntimeError(f"devnet {args[0]} failed: {out.stderr.strip()}")
        return json.loads(out.stdout)

    def up(self) -> dict:
        return self._run("up", "--port", str(self.port))

    def down(self) -> None:
        self._run("down")

    def kill9(self) -> None:
        """SIGKILL the chain and wait until it is gone (it is not our child: no waitpid)."""
        pid = int((self.dir / "anvil.pid").read_text())
        os.kill(pid, 9)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
            if ") Z" in stat:
                break
            time.sleep(0.02)

    def web3(self):
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 30}))


class RawAnvil:
    """An anvil started with the flags a test names (a hardfork, zero gas, a fork of another
    node), stopped by `stop()`: for tests that need chains set up unlike the session devnet."""

    def __init__(self, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(ANVIL), "--host", "127.0.0.1", "--port", str(self.port), "--silent", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"anvil {' '.join(flags)} did not start: {err}") from None
                time.sleep(0.05)

    def web3(self):
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 30}))

    def rpc(self, method: str, *params: object) -> object:
        return self.web3().provider.make_request(method, list(params))  # type: ignore[arg-type]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    proc = AnvilProcess(tmp_path_factory.mktemp("devnet"), free_port())
    proc.up()
    yield proc
    proc.down()


@pytest.fixture(scope="session")
def w3(anvil: AnvilProcess):
    return anvil.web3()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


# --- store fixtures (ledger.store.store): every store test runs on SQLite and on PostgreSQL ----------

PG_URL_ENV = "ZHENZHI_TEST_PG_URL"


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (and xdist worker), dropped afterwards."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV} (e.g. "
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    import uuid

    from sqlalchemy import create_engine, make_url, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"zz_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _pg_schema_url(database_url: str, schema: str) -> str:
    from sqlalchemy import make_url

    url = make_url(database_url)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


def make_store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL of an empty database of `kind` ('sqlite' or 'postgresql') for one test."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    import uuid

    from sqlalchemy import create_engine, text

    database_url = request.getfixturevalue("pg_database_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return _pg_schema_url(database_url, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return make_store_url(request.param, tmp_path, request)


@pytest.fixture
def store(store_url: str):
    """A migrated, empty `ledger.store.store.Store` on SQLite and on PostgreSQL."""
    from ledger.store.store import Store

    s = Store(store_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture(scope="session")
def deployment(w3):
    """All contracts, deployed once per session by dev account 0, the operator organisation
    (`ledger.chain.deployment.DEFAULT_OPERATOR_GLN`, ADMIN and ANCHORER, quorum 1)."""
    from eth_account import Account

    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor, anvil_dev_key

    return deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))


# The live-stack session fixtures of tests/integration, registered here once for every test
# directory that uses them (tests/integration, tests/attacks): a session fixture must be
# defined once, or it runs once per defining conftest.
from tests.integration.gateway_env import gateway_stack  # noqa: E402, F401
from tests.integration.sealed_env import network_off, sealed, sealed_consignment  # noqa: E402, F401
from tests.integration.sign_proxy_env import sign_proxy, sign_proxy_member  # noqa: E402, F401
from tests.integration.traceability_env import client_for, trace_stack  # noqa: E402, F401
from tests.integration.webhook_receiver import other_receiver, receiver  # noqa: E402, F401
