"""Deterministic Solidity builds: `contracts/*.sol` → `contracts/build/<Name>.json`.

Compiles through py-solc-x with the pinned wasm solc behind `hardhat-free-devnet/solc`, with the
optimizer on, once per EVM version a consortium chain may run (`EVM_VERSIONS`): `cancun` (the
default, `contracts/build/`), `shanghai` and `london` (`contracts/build/<version>/`), for
GoQuorum and Besu milestones that predate Cancun. OpenZeppelin 5.7 uses `mcopy` (Cancun), so the
pre-Cancun builds remap `@openzeppelin/contracts/` to OpenZeppelin 5.4.0 (npm alias
`@openzeppelin/contracts-pre-cancun`), the newest release that compiles for them; our own
sources are the same for every version. The standard-JSON input is built from sorted source
paths relative to the repository, so the same sources give byte-identical artifacts on any
machine; `check()` recompiles every version and compares, which is how CI catches a stale
artifact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import BuildError
from ledger.paths import ARTIFACTS_DIR, CONTRACTS_DIR, NODE_MODULES, SOLC_SHIM

__all__ = [
    "DEFAULT_EVM_VERSION", "EVM_VERSIONS", "BuildResult", "artifacts_dir", "build", "check",
    "compile_sources", "load_artifact",
]

EVM_VERSIONS = ("london", "shanghai", "cancun")
DEFAULT_EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
INDEX_FILE = "index.json"
# OpenZeppelin for chains before Cancun: 5.7's Bytes/Strings use `mcopy`.
_PRE_CANCUN_REMAPPINGS = ["@openzeppelin/contracts/=@openzeppelin/contracts-pre-cancun/"]


def _check_evm(evm_version: str) -> str:
    if evm_version not in EVM_VERSIONS:
        raise BuildError(f"unknown EVM version {evm_version!r}; one of {', '.join(EVM_VERSIONS)}",
                         evmVersion=evm_version)
    return evm_version


def artifacts_dir(evm_version: str = DEFAULT_EVM_VERSION, root: Path = ARTIFACTS_DIR) -> Path:
    """Where the artifacts for one EVM version live: `root` for the default, `root/<version>`
    for the others."""
    _check_evm(evm_version)
    return root if evm_version == DEFAULT_EVM_VERSION else root / evm_version


@dataclass(frozen=True)
class BuildResult:
    solc_version: str
    artifacts: dict[str, bytes]  # file name -> exact bytes to write

    def digest(self, name: str) -> str:
        return hashlib.sha256(self.artifacts[name]).hexdigest()


def _sources(src_dir: Path) -> dict[str, dict[str, str]]:
    files = sorted(p for p in src_dir.rglob("*.sol") if "build" not in p.relative_to(src_dir).parts)
    if not files:
        raise BuildError(f"no Solidity sources under {src_dir}")
    return {
        # Names relative to the folder's parent ("contracts/X.sol"), never absolute paths:
        # source names enter the metadata hash, so they must not depend on the checkout.
        p.relative_to(src_dir.parent).as_posix(): {"content": p.read_text(encoding="utf-8")}
        for p in files
    }


def compile_sources(src_dir: Path = CONTRACTS_DIR, solc_binary: Path = SOLC_SHIM, *,
                    evm_version: str = DEFAULT_EVM_VERSION) -> BuildResult:
    """Compile every source under `src_dir` for one EVM version; artifacts only for contracts
    defined there."""
    _check_evm(evm_version)
    src_dir = Path(src_dir).resolve()
    import solcx  # deferred: the import is slow and only builds need it

    if not Path(solc_binary).exists():
        raise BuildError(
            f"solc shim not found at {solc_binary}; run `npm ci --ignore-scripts` in hardhat-free-devnet"
        )
    sources = _sources(src_dir)
    std_input: dict[str, Any] = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": evm_version,
            "metadata": {"bytecodeHash": "ipfs"},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]}
            },
        },
    }
    if evm_version != DEFAULT_EVM_VERSION:
        std_input["settings"]["remappings"] = _PRE_CANCUN_REMAPPINGS
    try:
        version = str(solcx.wrapper.get_solc_version(solc_binary, with_commit_hash=True))
        out = solcx.compile_standard(
            std_input,
            solc_binary=solc_binary,
            base_path=src_dir.parent,
            allow_paths=[src_dir.parent, NODE_MODULES],
        )
    except solcx.exceptions.SolcError as exc:
        # py-solc-x raises on any error-severity message; error_dict is then the errors list.
        errors = [e for e in (exc.error_dict or []) if e.get("severity") == "error"]
        raise BuildError(_first_error(errors, sources) if errors else f"solc failed: {exc.message}",
                         errors=len(errors)) from exc
    problems = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if problems:
        raise BuildError(_first_error(problems, sources), errors=len(problems))

    artifacts: dict[str, bytes] = {}
    index: dict[str, Any] = {"solcVersion": version, "evmVersion": evm_version,
                             "optimizerRuns": OPTIMIZER_RUNS, "artifacts": {}}
    for source_name in sorted(sources):
        for name, c in sorted(out["contracts"].get(source_name, {}).items()):
            bytecode = c["evm"]["bytecode"]["object"]
            artifact = {
                "contractName": name,
                "sourceName": source_name,
                "abi": c["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                "metadata": json.loads(c["metadata"]),
            }
            data = (json.dumps(artifact, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
            artifacts[f"{name}.json"] = data
            index["artifacts"][name] = hashlib.sha256(data).hexdigest()
    artifacts[INDEX_FILE] = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
    return BuildResult(version, artifacts)


def _first_error(errors: list[dict[str, Any]], sources: dict[str, dict[str, str]]) -> str:
    """`contracts/X.sol:3:44: DeclarationError: Undeclared identifier.`: one line, like native solc."""
    e = errors[0]
    loc = e.get("sourceLocation") or {}
    where = loc.get("file", "")
    if where and "start" in loc:
        source = sources.get(where, {}).get("content", "")
        line = source.count("\n", 0, max(loc["start"], 0)) + 1
        col = loc["start"] - (source.rfind("\n", 0, loc["start"]) + 1) + 1
        where = f"{where}:{line}:{col}"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"contract compile failed: {where}: {e.get('type', 'Error')}: {e.get('message', '')}{more}"


def _write(out_dir: Path, result: BuildResult) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.json"):
        if stale.name not in result.artifacts:
            stale.unlink()
    for name, data in result.artifacts.items():
        tmp = out_dir / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(out_dir / name)


def build(out_dir: Path = ARTIFACTS_DIR, src_dir: Path = CONTRACTS_DIR,
          evm_versions: tuple[str, ...] = EVM_VERSIONS) -> dict[str, BuildResult]:
    """Compile for each EVM version and (re)write its artifact folder; files no longer produced
    are removed."""
    # Every version compiles before anything is written: a failed build leaves no artifacts.
    results = {evm: compile_sources(src_dir, evm_version=evm) for evm in evm_versions}
    for evm, result in results.items():
        _write(artifacts_dir(evm, out_dir), result)
    return results


def check(out_dir: Path = ARTIFACTS_DIR, src_dir: Path = CONTRACTS_DIR,
          evm_versions: tuple[str, ...] = EVM_VERSIONS) -> list[str]:
    """Artifacts (`<evm>/<file>`) whose committed bytes differ from a fresh compile (empty: up
    to date)."""
    stale: list[str] = []
    for evm in evm_versions:
        result = compile_sources(src_dir, evm_version=evm)
        folder = artifacts_dir(evm, out_dir)
        on_disk = {p.name for p in folder.glob("*.json")} if folder.exists() else set()
        differ = {n for n, data in result.artifacts.items()
                  if not (folder / n).exists() or (folder / n).read_bytes() != data}
        stale += [f"{evm}/{n}" for n in sorted(differ | (on_disk - set(result.artifacts)))]
    return stale


def load_artifact(name: str, out_dir: Path | None = None, *,
                  evm_version: str = DEFAULT_EVM_VERSION) -> dict[str, Any]:
    """One contract's artifact (ABI, bytecode, metadata); the ABI is the same for every EVM
    version, the bytecode is not."""
    path = (out_dir if out_dir is not None else artifacts_dir(evm_version)) / f"{name}.json"
    if not path.exists():
        raise BuildError(f"no artifact {path}; run `zhenzhi contracts build`")
    artifact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return artifact
