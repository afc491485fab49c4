"""The Ethereum-compatible chain: the contracts' client (`client`), a pinned, cached read view
for hot paths (`view`), transaction signing and fee pricing (`transactor`), deployment manifests
and the compiler behind the committed artifacts (`deployment`, `compiler`), and the contracts'
vocabulary: consortium roles (`roles`) and customs decisions (`decisions`). Sits on `proofs`;
knows nothing of the store.
"""
