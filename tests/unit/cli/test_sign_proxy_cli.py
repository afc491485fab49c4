"""`zhenzhi sign-proxy` refuses to start on a key it cannot unlock or a gateway URL that is not
one, with one plain line (the e2e test starts it for real: tests/e2e/test_sign_proxy_epcis2js.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from ledger.proofs.keystore import new_key


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    new_key(path, "right passphrase", scrypt_n=2)
    return path


def test_RevertIf_wrong_passphrase(key_file: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZHENZHI_KEY_PASSPHRASE", "wrong passphrase")
    code = main(["sign-proxy", "--key", str(key_file), "--gateway", "http://127.0.0.1:9"])
    assert code == 1
    assert "wrong passphrase" in capsys.readouterr().err


def test_RevertIf_gateway_is_not_an_http_url(key_file: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZHENZHI_KEY_PASSPHRASE", "right passphrase")
    code = main(["sign-proxy", "--key", str(key_file), "--gateway", "ftp://gw.example"])
    assert code == 1
    assert "http:// or https://" in capsys.readouterr().err


def test_RevertIf_org_is_malformed(key_file: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZHENZHI_KEY_PASSPHRASE", "right passphrase")
    code = main(["sign-proxy", "--key", str(key_file), "--gateway", "http://127.0.0.1:9",
                 "--org", "not-an-org"])
    assert code == 1
    assert "--org must be" in capsys.readouterr().err
