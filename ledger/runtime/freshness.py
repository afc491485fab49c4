"""Keeping a cached reading fresh from a thread of its own.

A server's caches re-read a value (the chain head, the store's version) once it is older than
their `max_staleness`. Left to the requests, every request that finds the value stale pays for
the read, and on a busy server they find it stale together. `follow` re-reads it on a
schedule instead, so requests find it fresh and never wait on the node or the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["follow"]

log = logging.getLogger("zhenzhi.freshness")


def follow(refresh: Callable[[], object], stop: threading.Event, interval: float, *,
           what: str) -> None:
    """Call `refresh()` every `interval` seconds until `stop` is set. A failure is logged
    once (the source may be away for a while) and retried at the next tick; meanwhile the
    cache's own callers fall back to reading it themselves. `interval <= 0` returns at once."""
    if interval <= 0:
        return
    failing = False
    while not stop.wait(interval):
        try:
            refresh()
        except Exception as exc:  # noqa: BLE001 - keep following; say so once
            if not failing:
                log.warning("cannot read %s (%s); retrying every %.2fs", what, exc, interval)
            failing = True
        else:
            if failing:
                log.info("%s readable again", what)
            failing = False
