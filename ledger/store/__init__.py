"""The database: SQLAlchemy tables and Alembic migrations (`tables`, `migrations/`), the event
store with its capture outbox (`store`), trace queries and the trace index that answers them
(`trace`, `trace_index`) and the batched scan log (`scan_log`). SQLite by default, PostgreSQL by
URL. Sits on `epcis` and `proofs`; knows nothing of the chain.
"""
