"""Encrypted key files: 0600, never overwritten, wrong passphrase and damage are KeystoreError."""

from __future__ import annotations

import json
import stat

import pytest
from eth_account import Account

from ledger.errors import InvalidInputError
from ledger.proofs.keystore import (
    DEFAULT_SCRYPT_N,
    KeystoreError,
    keystore_address,
    load_key,
    new_key,
)

FAST = 2**4  # scrypt n for tests only: the default (2**18) costs ~1 s per operation


def test_new_key_round_trip(tmp_path):
    path = tmp_path / "org.key.json"
    address = new_key(path, "correct horse", scrypt_n=FAST)
    account = load_key(path, "correct horse")
    assert account.address == address == keystore_address(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_file_is_encrypted_scrypt_keystore_without_plain_key(tmp_path):
    path = tmp_path / "k.json"
    new_key(path, "pw", scrypt_n=FAST)
    account = load_key(path, "pw")
    text = path.read_text()
    assert account.key.hex().removeprefix("0x") not in text.lower()
    data = json.loads(text)
    assert data["version"] == 3 and data["crypto"]["kdf"] == "scrypt"
    assert data["crypto"]["kdfparams"]["n"] == FAST
    # The standard format: eth_account itself decrypts it.
    assert Account.decrypt(data, "pw") == account.key


def test_default_cost_is_strong():
    assert DEFAULT_SCRYPT_N >= 2**18


def test_two_keys_differ(tmp_path):
    assert new_key(tmp_path / "a", "pw", scrypt_n=FAST) != new_key(tmp_path / "b", "pw", scrypt_n=FAST)


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "k.json"
    path.write_text("precious")
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        new_key(path, "pw", scrypt_n=FAST)
    assert path.read_text() == "precious"


def test_wrong_passphrase(tmp_path):
    path = tmp_path / "k.json"
    new_key(path, "right", scrypt_n=FAST)
    with pytest.raises(KeystoreError, match="wrong passphrase") as exc:
        load_key(path, "wrong")
    assert isinstance(exc.value, InvalidInputError) and exc.value.slug == "keystore"


@pytest.mark.parametrize("passphrase", ["", None])
def test_empty_passphrase_refused(tmp_path, passphrase):
    with pytest.raises(KeystoreError, match="non-empty passphrase"):
        new_key(tmp_path / "k.json", passphrase, scrypt_n=FAST)
    assert not (tmp_path / "k.json").exists()


@pytest.mark.parametrize("n", [0, 1, 3, 100])
def test_scrypt_n_must_be_power_of_two(tmp_path, n):
    with pytest.raises(KeystoreError, match="power of two"):
        new_key(tmp_path / "k.json", "pw", scrypt_n=n)


def test_missing_directory(tmp_path):
    with pytest.raises(KeystoreError, match="cannot create"):
        new_key(tmp_path / "no" / "k.json", "pw", scrypt_n=FAST)


@pytest.mark.parametrize(("content", "match"), [
    (None, "no key file"),
    ("not json", "not a keystore JSON"),
    ("[1]", "not an Ethereum keystore"),
    ('{"address": "00"}', "not an Ethereum keystore"),
])
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "k.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KeystoreError, match=match):
        load_key(path, "pw")


def test_damaged_ciphertext_is_caught_by_the_mac(tmp_path):
    path = tmp_path / "k.json"
    new_key(path, "pw", scrypt_n=FAST)
    data = json.loads(path.read_text())
    ct = data["crypto"]["ciphertext"]
    data["crypto"]["ciphertext"] = ("0" if ct[0] != "0" else "1") + ct[1:]
    path.write_text(json.dumps(data))
    with pytest.raises(KeystoreError):
        load_key(path, "pw")


def test_edited_address_field_detected(tmp_path):
    path = tmp_path / "k.json"
    new_key(path, "pw", scrypt_n=FAST)
    data = json.loads(path.read_text())
    data["address"] = "11" * 20
    path.write_text(json.dumps(data))
    assert keystore_address(path) == "0x" + "11" * 20  # unproven claim, as documented
    with pytest.raises(KeystoreError, match="declares"):
        load_key(path, "pw")


def test_truncated_crypto_section(tmp_path):
    path = tmp_path / "k.json"
    new_key(path, "pw", scrypt_n=FAST)
    data = json.loads(path.read_text())
    del data["crypto"]["kdfparams"]
    path.write_text(json.dumps(data))
    with pytest.raises(KeystoreError):
        load_key(path, "pw")
