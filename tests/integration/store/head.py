"""The store's newest schema revision, read from the migrations (not spelled in each test)."""

from __future__ import annotations

from pathlib import Path


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import ledger.store

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(ledger.store.__file__).parent / "migrations"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


HEAD = head_revision()
