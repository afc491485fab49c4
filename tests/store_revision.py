"""The store's newest migration, read from Alembic: tests that check a store was migrated to
the head name it through this, not as a literal that each new migration would have to edit."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

import ledger.store.store as _store

_cfg = Config()
_cfg.set_main_option("script_location", str(Path(_store.__file__).parent / "migrations"))
HEAD_REVISION: str = ScriptDirectory.from_config(_cfg).get_current_head() or ""
