"""`ledger.runtime.heap.freeze_startup_heap`: the start-up heap leaves the collector's sight, later
garbage is still collected. Run in a child process: freezing is process-wide."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_freeze_keeps_startup_objects_out_of_collections_and_still_collects_new_garbage() -> None:
    code = textwrap.dedent("""
        import gc
        from ledger.runtime.heap import freeze_startup_heap

        class Node:
            pass

        kept = Node(); kept.self = kept          # alive at start-up, in a cycle
        dropped = Node(); dropped.self = dropped  # start-up garbage: collected, not frozen
        del dropped
        frozen = freeze_startup_heap()
        assert frozen > 1000 and gc.get_freeze_count() == frozen, frozen
        assert not any(o is kept for o in gc.get_objects()), "a frozen object is still tracked"
        assert not any(type(o) is Node for o in gc.get_objects())
        later = Node(); later.self = later
        del later
        assert gc.collect() >= 1  # the new cycle is garbage as usual
        print("ok", frozen)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")
