"""From capture to anchor: checking a signed capture document before it is stored (`intake`),
grouping concurrent captures into one database commit (`committer`), and the anchoring worker
that batches accepted captures into Merkle roots on TraceAnchor through the outbox
(`anchoring`). The only wing that joins the store and the chain for writing. Also the
webhook worker that runs subscriptions into their outbox and delivers it (`webhooks`), and
the check of where a webhook may point (`webhook_target`).
"""
