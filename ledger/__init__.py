"""Zhenzhi ledger core: EPCIS model, GS1 identifiers, event hashes, signatures, Merkle trees,
store, chain client and anchoring. Imports no web framework."""

__version__ = "0.1.0"
