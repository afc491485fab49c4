"""Where the repository keeps its build inputs and outputs (resolved from this file, not cwd)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO_ROOT / "contracts"
ARTIFACTS_DIR = CONTRACTS_DIR / "build"
DEVNET_DIR = REPO_ROOT / "hardhat-free-devnet"
NODE_MODULES = DEVNET_DIR / "node_modules"
SOLC_SHIM = DEVNET_DIR / "solc"
SHARED_DIR = REPO_ROOT.parent / "shared"
