"""Encrypted key files for enterprise signers: Ethereum keystore v3 (scrypt + AES-128-CTR).

A private key never touches the disk in plain hex: `new_key` writes only the encrypted keystore
(readable by its owner only, never over an existing file), `load_key` decrypts it with the
passphrase. The files are the standard format, so geth, Foundry's `cast wallet` and MetaMask
import them too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.errors import InvalidInputError
from ledger.proofs.signing import checksum_address

__all__ = ["DEFAULT_SCRYPT_N", "KeystoreError", "keystore_address", "load_key", "new_key"]

# geth's "standard" scrypt cost (n = 2**18, r = 8, p = 1): ~0.5 s and 256 MiB per unlock, which
# is paid once per `zhenzhi sign`. Tests pass a tiny n; nothing else should.
DEFAULT_SCRYPT_N = 1 << 18


class KeystoreError(InvalidInputError):
    """A key file that cannot be read, written or decrypted (wrong passphrase included)."""

    slug = "keystore"
    title = "Key file error"


def _check_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str) or not passphrase:
        # An empty passphrase would make the "encrypted" file a plain key in disguise.
        raise KeystoreError("a key file needs a non-empty passphrase")


def new_key(path: Path | str, passphrase: str, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> str:
    """Create a fresh secp256k1 key, write it encrypted to `path` (mode 0600), return its address.

    Requirements: `path` does not exist (a key file is never overwritten: it may be the only copy
    of a registered key); the passphrase is not empty; `scrypt_n` is a power of two ≥ 2.
    """
    _check_passphrase(passphrase)
    if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
        raise KeystoreError(f"scrypt n must be a power of two ≥ 2, got {scrypt_n}")
    path = Path(path)
    account = Account.create()
    blob = json.dumps(Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_n),
                      indent=2) + "\n"
    try:
        # O_EXCL makes "refuse to overwrite" atomic, and the mode is set at creation, so the file
        # is never readable by others, not even for an instant.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(f"{path} already exists; refusing to overwrite a key file",
                            path=str(path)) from None
    except OSError as exc:
        raise KeystoreError(f"cannot create {path}: {exc.strerror}", path=str(path)) from None
    try:
        os.fchmod(fd, 0o600)  # a umask can only remove bits, but be explicit about the result
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(blob)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)  # never leave a truncated key file behind
        raise
    return account.address


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeystoreError(f"no key file at {path}", path=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise KeystoreError(f"{path} is not a keystore JSON file ({type(exc).__name__})",
                            path=str(path)) from None
    if not isinstance(data, dict) or "crypto" not in data and "Crypto" not in data:
        raise KeystoreError(f"{path} is not an Ethereum keystore file", path=str(path))
    return data


def keystore_address(path: Path | str) -> str:
    """The address a key file declares, read without the passphrase (not proven until loaded)."""
    path = Path(path)
    data = _read(path)
    address = data.get("address")
    if not isinstance(address, str):
        raise KeystoreError(f"{path} does not declare an address", path=str(path))
    try:
        return checksum_address(address if address.startswith("0x") else "0x" + address)
    except InvalidInputError:
        raise KeystoreError(f"{path} declares a malformed address", path=str(path)) from None


def load_key(path: Path | str, passphrase: str) -> LocalAccount:
    """Decrypt a key file. A wrong passphrase or a damaged file raises KeystoreError."""
    path = Path(path)
    _check_passphrase(passphrase)
    data = _read(path)
    try:
        key = Account.decrypt(data, passphrase)
    except ValueError as exc:
        # eth-keyfile says "MAC mismatch" for a wrong passphrase; other ValueErrors are damage.
        if "MAC mismatch" in str(exc):
            raise KeystoreError(f"wrong passphrase for {path}", path=str(path)) from None
        raise KeystoreError(f"{path} cannot be decrypted: {exc}", path=str(path)) from None
    except (KeyError, TypeError) as exc:
        raise KeystoreError(f"{path} is a malformed keystore (missing {exc})",
                            path=str(path)) from None
    account: LocalAccount = Account.from_key(key)
    declared = data.get("address")
    if isinstance(declared, str) and declared.lower().removeprefix("0x") != account.address[2:].lower():
        # The address field is not covered by the MAC: a mismatch means an edited file.
        raise KeystoreError(f"{path} declares {declared} but holds the key of {account.address}",
                            path=str(path))
    return account
