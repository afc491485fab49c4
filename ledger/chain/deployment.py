"""Deploying the contracts and the deployment manifest every other component reads.

The manifest (JSON) names the chain id, the EVM version the bytecode was built for, each
contract's address, the deploy block and the sha256 of the artifact each was deployed from, so a
reader can tell a stale deployment from a current one. Deployment goes through `Transactor`
(locally signed), so it works on any JSON-RPC chain.

`detect_evm_version(w3)` asks the chain which opcodes it runs (an `eth_call` of three tiny
creation codes: PUSH0 arrived with Shanghai, MCOPY with Cancun), so `zhenzhi deploy` picks the
newest build the chain can execute without being told its hardfork or client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.exceptions import Web3RPCError

from ledger.chain.compiler import (
    DEFAULT_EVM_VERSION,
    EVM_VERSIONS,
    INDEX_FILE,
    load_artifact,
)
from ledger.chain.compiler import (
    artifacts_dir as evm_artifacts_dir,
)
from ledger.chain.transactor import Transactor
from ledger.errors import BuildError, ChainError, InvalidInputError
from ledger.proofs.codes import org_id
from ledger.proofs.merkle import keccak256

__all__ = [
    "CONTRACT_NAMES", "DEFAULT_OPERATOR_GLN", "DEFAULT_OPERATOR_NAME", "ContractRecord",
    "Deployment", "Founder", "default_constructor_args", "deploy", "detect_evm_version",
    "is_current",
]

# Deployment order; every later contract takes the Consortium's address first.
CONTRACT_NAMES = ("Consortium", "TraceAnchor", "CodeRegistry", "CustomsRelease")

# The organisation that runs the deployment (and the gateway's anchoring) unless told otherwise.
DEFAULT_OPERATOR_GLN = "0614141000005"
DEFAULT_OPERATOR_NAME = "Zhenzhi operator"


@dataclass(frozen=True)
class Founder:
    """A founding member of the Consortium, admitted by its constructor (no proposal)."""

    gln: str
    name: str
    roles: tuple[str, ...]  # role names: ADMIN, ENTERPRISE, CUSTOMS, REGULATOR, ANCHORER
    keys: tuple[str, ...]  # addresses

    def as_arg(self) -> tuple[bytes, str, list[bytes], list[str]]:
        return (org_id(self.gln), self.name, [keccak256(r.encode()) for r in self.roles],
                [Web3.to_checksum_address(k) for k in self.keys])


@dataclass(frozen=True)
class ContractRecord:
    address: str
    artifactSha256: str
    txHash: str
    block: int


@dataclass(frozen=True)
class Deployment:
    chainId: int
    deployer: str
    deployBlock: int
    deployedAt: str
    solcVersion: str
    contracts: dict[str, ContractRecord] = field(default_factory=dict)
    rpcUrl: str | None = None
    # Manifests written before per-version builds were deployed from the Cancun artifacts.
    evmVersion: str = DEFAULT_EVM_VERSION

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise InvalidInputError(f"deployment has no contract {name}") from None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            contracts = {k: ContractRecord(**v) for k, v in raw.pop("contracts").items()}
            return cls(contracts=contracts, **raw)
        except FileNotFoundError:
            raise InvalidInputError(f"no deployment manifest at {path}; run `zhenzhi deploy`") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInputError(f"deployment manifest {path} is malformed: {exc}") from exc


def _artifact_hashes(artifacts_dir: Path) -> tuple[str, dict[str, str]]:
    index_path = artifacts_dir / INDEX_FILE
    if not index_path.exists():
        raise BuildError(f"no {index_path}; run `zhenzhi contracts build`")
    index = json.loads(index_path.read_text())
    return index["solcVersion"], index["artifacts"]


ConstructorArgs = Callable[[str, dict[str, str]], Sequence[Any]]


def default_constructor_args(founders: Sequence[Founder], quorum: int) -> ConstructorArgs:
    """Constructor arguments per contract, given the addresses deployed so far."""

    def args(name: str, deployed: dict[str, str]) -> Sequence[Any]:
        if name == "Consortium":
            return ([f.as_arg() for f in founders], quorum)
        return (deployed["Consortium"],)

    return args


# Creation code that returns nothing if the opcode runs, and fails on a chain without it.
_PROBES = (
    ("cancun", "0x5f5f5f5e00"),  # PUSH0 PUSH0 PUSH0 MCOPY STOP
    ("shanghai", "0x5f00"),  # PUSH0 STOP
)


def detect_evm_version(w3: Web3) -> str:
    """The newest of `EVM_VERSIONS` whose opcodes the chain executes (by `eth_call`, standard
    JSON-RPC only): cancun if MCOPY runs, shanghai if PUSH0 runs, else london."""
    for version, code in _PROBES:
        try:
            w3.eth.call({"data": code})
        except (ConnectionError, OSError):
            raise
        except Exception:  # noqa: BLE001, S112 - any refusal means the opcode is not there
            continue
        return version
    return "london"


def deploy(transactor: Transactor, *, admins: Sequence[str] | None = None, quorum: int = 1,
           artifacts_dir: Path | None = None, evm_version: str | None = None,
           rpc_url: str | None = None,
           constructor_args: ConstructorArgs | None = None,
           founders: Sequence[Founder] | None = None,
           operator_gln: str = DEFAULT_OPERATOR_GLN,
           operator_name: str = DEFAULT_OPERATOR_NAME) -> Deployment:
    """Deploy every contract in order and return the manifest (not yet saved).

    Without `founders`, the Consortium starts with one organisation, the operator
    (`operator_gln`), holding ADMIN and ANCHORER, whose keys are `admins` (default: the
    deployer). Quorum counts organisations, not keys, so it is then 1; a consortium that wants
    M-of-N from the first block passes N ADMIN `founders`.
    """
    if founders is None:
        keys = tuple(admins or [transactor.address])
        founders = [Founder(operator_gln, operator_name, ("ADMIN", "ANCHORER"), keys)]
    admin_orgs = sum(1 for f in founders if "ADMIN" in f.roles)
    if not 1 <= quorum <= admin_orgs:
        raise InvalidInputError(
            f"quorum {quorum} needs {quorum} founding ADMIN organisations, there are {admin_orgs}"
            " (quorum counts organisations, not keys: deploy with quorum 1, admit more ADMIN"
            " organisations, then propose a new quorum)", field="quorum")
    args_for = constructor_args or default_constructor_args(founders, quorum)
    if evm_version is None:
        evm_version = detect_evm_version(transactor.w3)
    if evm_version not in EVM_VERSIONS:
        raise InvalidInputError(f"unknown EVM version {evm_version!r}; one of "
                                f"{', '.join(EVM_VERSIONS)}", field="evm")
    if artifacts_dir is None:
        artifacts_dir = evm_artifacts_dir(evm_version)
    solc_version, hashes = _artifact_hashes(artifacts_dir)
    deployed: dict[str, str] = {}
    records: dict[str, ContractRecord] = {}
    first_block = None
    for name in CONTRACT_NAMES:
        art = load_artifact(name, artifacts_dir)
        try:
            address, receipt = transactor.deploy(art["abi"], art["bytecode"],
                                                 *args_for(name, deployed))
        except Web3RPCError as exc:
            raise ChainError(
                f"the chain refused {name} built for EVM {evm_version} ({exc.message}); a chain "
                f"that predates {evm_version} needs an older build: deploy with --evm "
                f"{detect_evm_version(transactor.w3)}", evmVersion=evm_version) from exc
        deployed[name] = address
        block = int(receipt["blockNumber"])
        first_block = block if first_block is None else first_block
        records[name] = ContractRecord(address, hashes[name], "0x" + bytes(receipt["transactionHash"]).hex(), block)
    return Deployment(
        chainId=transactor.chain_id,
        deployer=transactor.address,
        deployBlock=int(first_block or 0),
        deployedAt=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        solcVersion=solc_version,
        contracts=records,
        rpcUrl=rpc_url,
        evmVersion=evm_version,
    )


def is_current(w3: Web3, deployment: Deployment, artifacts_dir: Path | None = None) -> bool:
    """True if the chain still holds this deployment and it was built from today's artifacts
    (for the EVM version it was deployed with)."""
    try:
        _, hashes = _artifact_hashes(artifacts_dir or evm_artifacts_dir(deployment.evmVersion))
        if int(w3.eth.chain_id) != deployment.chainId:
            return False
        for name in CONTRACT_NAMES:
            rec = deployment.contracts.get(name)
            if rec is None or rec.artifactSha256 != hashes.get(name):
                return False
            if len(w3.eth.get_code(rec.address)) == 0:
                return False
    except (ConnectionError, OSError, BuildError):
        return False
    return True
