"""Process machinery shared by every long-running part: freezing the start-up heap so the
collector stops walking it (`heap`), single-flight follower threads that keep a cached value
fresh (`freshness`), per-client rate limits in memory or Redis (`ratelimit`) and bounded memos
(`memo`). A leaf: it imports nothing of the ledger but `ledger.errors`.
"""
