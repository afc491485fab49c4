"""Alembic environment for the store. Run through `Store.migrate()`, which hands over an open
connection in `config.attributes["connection"]`; there is no alembic.ini and no URL in files, so
the database is always the one the caller chose."""

from __future__ import annotations

from alembic import context

from ledger.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise RuntimeError("run migrations through ledger.store.store.Store.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place: batch mode copies the table, which later
    # revisions need; PostgreSQL alters directly.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
