"""What a third party re-checks without trusting us: sorted-pair keccak Merkle trees (`merkle`),
the EIP-712 capture message and its signature (`capture`, `signing`), signed member requests
(`request_signing`), encrypted keystores (`keystore`), item-code commitments under a lot's
codes root (`codes`) and the proof bundle's format that verifiers read (`bundle`). Pure
functions and values over bytes: no store, no chain, no network.
"""
