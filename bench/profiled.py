"""Run a module under cProfile and write its stats on SIGUSR1 (a server stopped by SIGTERM
never returns to cProfile's own dump): `python -m bench.profiled OUT MODULE ARGS...`.
Profiles the main thread only, which for uvicorn is the event loop's."""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys


def main() -> None:
    out, module, *args = sys.argv[1:]
    prof = cProfile.Profile()

    def dump(*_: object) -> None:
        prof.disable()
        prof.dump_stats(out)
        os._exit(0)

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = [module, *args]
    prof.enable()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
