"""The database: SQLAlchemy tables and Alembic migrations (`tables`, `migrations/`), the event
store with its capture outbox (`store`), trace queries and the trace index that answers them
(`trace`, `trace_index`), the indexes the EPCIS query parameters read (`sensor_index`,
`event_facts`), the batched scan log (`scan_log`), named queries (`named_queries`),
capture job listing (`capture_jobs`) and webhook subscriptions with their delivery outbox
(`subscriptions`). SQLite by default, PostgreSQL by
URL. Sits on `epcis` and `proofs`; knows nothing of the chain.
"""
