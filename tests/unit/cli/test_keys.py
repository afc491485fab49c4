"""`zhenzhi keys new|show` and `zhenzhi sign`, run through the real command tree."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from gateway.cli import main
from ledger.cli.keys import org_bytes
from ledger.errors import InvalidInputError
from ledger.proofs.keystore import load_key, new_key

FAST = ["--scrypt-n", "16"]  # tests only: the default scrypt cost takes ~1 s per key


@pytest.fixture(autouse=True)
def _no_env_passphrase(monkeypatch):
    monkeypatch.delenv("ZHENZHI_KEY_PASSPHRASE", raising=False)


@pytest.fixture
def passfile(tmp_path):
    path = tmp_path / "pass.txt"
    path.write_text("s3cret phrase\n")  # trailing newline is not part of the passphrase
    return path


def test_keys_new_prints_address_and_writes_0600_keystore(tmp_path, passfile, capsys):
    out = tmp_path / "org.json"
    assert main(["keys", "new", "--out", str(out), "--passphrase-file", str(passfile), *FAST]) == 0
    address = capsys.readouterr().out.strip()
    assert address.startswith("0x") and len(address) == 42
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert load_key(out, "s3cret phrase").address == address

    assert main(["keys", "show", str(out)]) == 0
    assert capsys.readouterr().out.strip() == address


def test_keys_new_uses_strong_scrypt_by_default(tmp_path, passfile):
    out = tmp_path / "k.json"
    assert main(["keys", "new", "-o", str(out), "--passphrase-file", str(passfile)]) == 0
    assert json.loads(out.read_text())["crypto"]["kdfparams"]["n"] == 2**18


def test_keys_new_refuses_to_overwrite(tmp_path, passfile, capsys):
    out = tmp_path / "k.json"
    out.write_text("{}")
    assert main(["keys", "new", "-o", str(out), "--passphrase-file", str(passfile), *FAST]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert out.read_text() == "{}"


def test_keys_new_passphrase_from_env(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZHENZHI_KEY_PASSPHRASE", "from-env")
    out = tmp_path / "k.json"
    assert main(["keys", "new", "-o", str(out), *FAST]) == 0
    assert load_key(out, "from-env").address == capsys.readouterr().out.strip()


def test_keys_new_refuses_empty_passphrase_file(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.write_text("")
    out = tmp_path / "k.json"
    assert main(["keys", "new", "-o", str(out), "--passphrase-file", str(empty), *FAST]) == 1
    assert "non-empty passphrase" in capsys.readouterr().err and not out.exists()


def test_keys_new_prompts_with_confirmation(tmp_path):
    out = tmp_path / "k.json"
    env = {k: v for k, v in os.environ.items() if k != "ZHENZHI_KEY_PASSPHRASE"}
    # A new session has no controlling terminal, so the hidden prompt reads stdin.
    run = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", "new", "-o", str(out), *FAST],
        input="typed pw\ntyped pw\n", capture_output=True, text=True, env=env,
        start_new_session=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert load_key(out, "typed pw").address == run.stdout.strip()  # prompts went to stderr
    assert "Passphrase" in run.stderr


def test_keys_new_prompt_mismatch_aborts(tmp_path):
    out = tmp_path / "k.json"
    env = {k: v for k, v in os.environ.items() if k != "ZHENZHI_KEY_PASSPHRASE"}
    run = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", "new", "-o", str(out), *FAST],
        input="one\ntwo\n", capture_output=True, text=True, env=env,
        start_new_session=True, timeout=60)
    assert run.returncode != 0 and not out.exists()


def test_keys_show_bad_file(tmp_path, capsys):
    assert main(["keys", "show", str(tmp_path / "missing.json")]) == 1
    assert "no key file" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "expected"), [
    ("0614141000005", b"0614141000005" + bytes(19)),
    ("0x" + "ab" * 32, bytes([0xAB]) * 32),
])
def test_org_bytes(text, expected):
    assert org_bytes(text) == expected


@pytest.mark.parametrize("text", ["0614141000006", "061414100000", "0x" + "ab" * 31, "0x" + "zz" * 32, "acme"])
def test_org_bytes_rejects(text):
    with pytest.raises(InvalidInputError):
        org_bytes(text)


def test_sign_refuses_half_a_domain(tmp_path, passfile, capsys):
    key = tmp_path / "k.json"
    new_key(key, "s3cret phrase", scrypt_n=16)
    doc = tmp_path / "doc.json"
    doc.write_text("{}")
    code = main(["sign", str(doc), "--key", str(key), "--org", "0614141000005",
                 "--chain-id", "1", "--passphrase-file", str(passfile)])
    assert code == 1 and "go together" in capsys.readouterr().err


# --- zhenzhi sign --------------------------------------------------------------------------------

CONSORTIUM = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
GLN = "0614141000005"


def epcis_document(n: int) -> dict:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-03-01T08:00:00.000+08:00",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent",
            "eventTime": f"2024-03-01T08:{i:02d}:00.000+08:00",
            "eventTimeZoneOffset": "+08:00",
            "epcList": [f"urn:epc:id:sgtin:0614141.107346.{1000 + i}"],
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
        } for i in range(n)]},
    }


@pytest.fixture
def signer_key(tmp_path):
    path = tmp_path / "signer.json"
    address = new_key(path, "s3cret phrase", scrypt_n=16)
    return path, address


def _verify_file(path):
    from ledger.epcis.document import parse_document
    from ledger.epcis.event_hash import event_hashes
    from ledger.proofs.signing import build_signed_capture, signature_from_json

    data = json.loads(path.read_text())
    parsed = signature_from_json(data["capture"])
    doc = parse_document(data["document"])
    ids = event_hashes(doc)
    capture = build_signed_capture(doc.events, doc.context, ids, parsed.signature, parsed.domain,
                                   seed=parsed.seed,
                                   expected_signer=parsed.signer)
    return data, parsed, capture


def test_sign_writes_a_verifiable_signed_capture(tmp_path, passfile, signer_key, capsys):
    key, address = signer_key
    doc = tmp_path / "doc.json"
    document = epcis_document(3)
    doc.write_text(json.dumps(document))
    out = tmp_path / "signed.json"
    code = main(["sign", str(doc), "--key", str(key), "--org", GLN, "--nonce", "7",
                 "--chain-id", "31337", "--consortium", CONSORTIUM.lower(),
                 "--signed-at", "1700000000", "-o", str(out), "--passphrase-file", str(passfile)])
    assert code == 0, capsys.readouterr().err
    data, parsed, capture = _verify_file(out)
    assert data["document"] == document
    assert set(data["capture"]) == {"eventsRoot", "count", "org", "nonce", "signedAt",
                                    "signature", "signer", "chainId", "verifyingContract",
                                    "disclosureSeed"}
    assert capture.signer == parsed.signer == address
    assert parsed.signature.count == 3 and parsed.signature.nonce == 7
    assert parsed.signature.org == GLN.encode() + bytes(19)
    assert parsed.signature.signed_at == 1_700_000_000
    assert (parsed.domain.chain_id, parsed.domain.verifying_contract) == (31337, CONSORTIUM)


def test_signed_capture_binds_the_events(tmp_path, passfile, signer_key):
    from ledger.proofs.signing import CaptureMismatchError

    key, _ = signer_key
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(epcis_document(2)))
    out = tmp_path / "signed.json"
    assert main(["sign", str(doc), "--key", str(key), "--org", GLN, "--chain-id", "1",
                 "--consortium", CONSORTIUM, "-o", str(out),
                 "--passphrase-file", str(passfile)]) == 0
    data = json.loads(out.read_text())
    data["document"]["epcisBody"]["eventList"][1]["disposition"] = "stolen"
    out.write_text(json.dumps(data))
    with pytest.raises(CaptureMismatchError):
        _verify_file(out)


def test_sign_with_manifest_and_to_stdout(tmp_path, passfile, signer_key, capsys):
    from ledger.chain.deployment import ContractRecord, Deployment

    key, address = signer_key
    manifest = tmp_path / "deployment.json"
    Deployment(chainId=4242, deployer=address, deployBlock=1, deployedAt="2024-01-01T00:00:00Z",
               solcVersion="0.8.28", contracts={"Consortium": ContractRecord(
                   CONSORTIUM, "00", "0x00", 1)}).save(manifest)
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(epcis_document(1)))
    code = main(["sign", str(doc), "--key", str(key), "--org", "0x" + "ab" * 32,
                 "--manifest", str(manifest), "--passphrase-file", str(passfile)])
    assert code == 0
    out = tmp_path / "from-stdout.json"
    out.write_text(capsys.readouterr().out)
    _, parsed, capture = _verify_file(out)
    assert parsed.domain.chain_id == 4242 and capture.signer == address
    assert parsed.signature.org == bytes([0xAB]) * 32


def test_sign_wrong_passphrase(tmp_path, signer_key, capsys, monkeypatch):
    key, _ = signer_key
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(epcis_document(1)))
    monkeypatch.setenv("ZHENZHI_KEY_PASSPHRASE", "not it")
    code = main(["sign", str(doc), "--key", str(key), "--org", GLN, "--chain-id", "1",
                 "--consortium", CONSORTIUM, "-o", str(tmp_path / "out.json")])
    assert code == 1 and "wrong passphrase" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_sign_rejects_a_non_json_document(tmp_path, passfile, signer_key, capsys):
    key, _ = signer_key
    doc = tmp_path / "doc.json"
    doc.write_text("<xml/>")
    code = main(["sign", str(doc), "--key", str(key), "--org", GLN, "--chain-id", "1",
                 "--consortium", CONSORTIUM, "--passphrase-file", str(passfile)])
    assert code == 1 and "zhenzhi:" in capsys.readouterr().err


def test_sign_takes_an_xml_document_and_signs_the_events_it_converts_to(
        tmp_path, passfile, signer_key, capsys):
    from ledger.epcis.event_hash import event_hashes
    from ledger.epcis.xml import parse_xml_document
    from ledger.epcis.xml_writer import write_document
    from ledger.proofs.signing import build_signed_capture, signature_from_json

    key, address = signer_key
    document = epcis_document(2)
    xml = write_document(document["epcisBody"]["eventList"], context=document["@context"],
                         creation_date=document["creationDate"])
    doc = tmp_path / "doc.xml"
    doc.write_bytes(xml)
    out = tmp_path / "signed.json"
    code = main(["sign", str(doc), "--key", str(key), "--org", GLN, "--chain-id", "31337",
                 "--consortium", CONSORTIUM, "-o", str(out), "--passphrase-file", str(passfile)])
    assert code == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert "document" not in data and data["xmlDocument"].encode() == xml
    parsed = signature_from_json(data["capture"])
    converted = parse_xml_document(data["xmlDocument"].encode())
    ids = event_hashes(converted)
    assert ids == event_hashes(document)  # the JSON form's ids
    capture = build_signed_capture(converted.events, converted.context, ids, parsed.signature,
                                   parsed.domain, seed=parsed.seed, expected_signer=address)
    assert capture.signer == address and parsed.signature.count == 2
    broken = tmp_path / "broken.xml"
    broken.write_bytes(xml.replace(b"<action>", b"<action>X", 1))
    code = main(["sign", str(broken), "--key", str(key), "--org", GLN, "--chain-id", "31337",
                 "--consortium", CONSORTIUM, "-o", str(out), "--passphrase-file", str(passfile)])
    assert code == 1 and "line" in capsys.readouterr().err
