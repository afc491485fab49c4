"""The interpreter's recursion limit, put back where the C stack can hold it.

Importing `py_ecc` (eth_account and web3 import it) raises `sys.setrecursionlimit` to 100 000
for the whole process. CPython's C code that recurses (the `json` parser, `repr`, pickling)
trusts that limit to stop it before the C stack ends; at 100 000 it does not, and ~200 KB of
`[` in a request body became a segfault instead of a `RecursionError`. Every process entry
point (the gateway app, the `zhenzhi` CLI and so the anchoring worker, the test session) calls
`restore_recursion_limit()` once its imports are done.
"""

from __future__ import annotations

import sys

__all__ = ["SAFE_RECURSION_LIMIT", "restore_recursion_limit"]

# CPython's own default: ~1000 C frames of the json parser fit many times over in the 8 MB
# main-thread stack and in a thread's stack.
SAFE_RECURSION_LIMIT = 1000


def restore_recursion_limit(limit: int = SAFE_RECURSION_LIMIT) -> int:
    """Import py_ecc (so its raise has happened and cannot happen later), then set the
    recursion limit to `limit`. Returns the limit that was in force before."""
    import py_ecc  # noqa: F401 - imported for its side effect, so it comes before ours

    before = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    return before
