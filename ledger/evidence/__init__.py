"""Proof bundles built from the store: any event set with its signatures, Merkle paths and
anchoring proofs (`builder`), and an item's whole bundle with its trace through containers and
transformations, registration, customs decisions and scans, cached for a gateway that serves
the same items all day (`item`). It writes the format of `ledger.proofs.bundle`: claims plus
the data to test them, never conclusions.
"""
