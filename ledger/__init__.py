"""Zhenzhi ledger core, in wings whose imports only point down:

    errors, paths                      shared leaves
    runtime | epcis                    process machinery | the GS1 standard's model
    proofs                             Merkle trees, EIP-712 signatures, code commitments
    store | chain                      the database | the chain
    pipeline | evidence | trade        capture to anchor | proof bundles | business rules
    demo | cli                         generated journeys | the `zhenzhi` subcommands

A wing imports only wings on lower rows, never a sibling on its own row
(`tests/unit/test_layering.py` holds the table and checks it). Imports no web framework.
"""

__version__ = "0.1.0"
