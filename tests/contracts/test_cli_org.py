"""`zhenzhi org` against anvil: writes print the transaction and the state; a caller without
the role gets one plain line and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from ledger.chain.client import Chain
from tests.contracts.conftest import Actor, gln

pytestmark = pytest.mark.chain


@pytest.fixture
def manifest(tmp_path: Path, anvil, deployment) -> list[str]:
    path = tmp_path / "deployment.json"
    deployment.save(path)
    return ["--rpc", anvil.url, "--manifest", str(path)]


def key_of(actor: Actor) -> str:
    return "0x" + bytes(actor.tx.account.key).hex()


def test_admit_as_admin_prints_transaction_and_state(manifest, cast, chain: Chain, operator,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    operator.reset_nonce()
    admin = cast["ADMIN"]
    code = main(["org", "propose", "admit", gln(8100), "--name", "CLI Ltd", "--role", "CUSTOMS",
                 *manifest, "--key", key_of(admin), "--json"])
    admin.tx.reset_nonce()
    out = capsys.readouterr()
    assert code == 0, out.err
    shown = json.loads(out.out)
    assert shown["transaction"]["tx_hash"].startswith("0x")
    assert "OrganisationAdmitted" in [e["name"] for e in shown["executed"]["events"]]
    assert shown["organisation"]["roles"] == ["CUSTOMS"] and shown["organisation"]["member"]
    assert chain.organisation(gln(8100)).name == "CLI Ltd"


@pytest.mark.parametrize("row", ["ENTERPRISE", "NONE", "REVOKED"])
def test_propose_without_admin_role_is_refused_in_one_line(manifest, cast, row: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["org", "propose", "grant-role", cast["TARGET"].gln, "ENTERPRISE", *manifest,
                 "--key", key_of(cast[row])])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "AccessControlUnauthorizedAccount" in err and "neededRole=ADMIN" in err


def test_regulator_sets_grade_and_blacklist(manifest, cast, chain: Chain,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    reg = cast["REGULATOR"]
    assert main(["org", "define-grade", "AAA", *manifest, "--key", key_of(reg)]) == 0
    assert main(["org", "set-grade", cast["TARGET"].gln, "AAA", *manifest, "--key", key_of(reg)]) == 0
    assert main(["org", "blacklist", cast["TARGET"].gln, "--reason", "fraud", *manifest,
                 "--key", key_of(reg)]) == 0
    reg.tx.reset_nonce()
    out = capsys.readouterr().out
    assert "OrganisationBlacklisted" in out and "GradeSet" in out
    target = chain.organisation(cast["TARGET"].gln)
    assert target.grade == "AAA" and target.blacklisted
    assert main(["org", "blacklist", cast["TARGET"].gln, "--lift", *manifest,
                 "--key", key_of(cast["CUSTOMS"])]) == 1
    assert "neededRole=REGULATOR" in capsys.readouterr().err
    assert main(["org", "blacklist", cast["TARGET"].gln, "--lift", *manifest, "--key", key_of(reg)]) == 0
    reg.tx.reset_nonce()
    assert not chain.organisation(cast["TARGET"].gln).blacklisted
