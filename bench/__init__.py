"""Benchmarks behind `scripts/bench`: each module has `measure(...) -> dict` and a `__main__`.
Comparisons (the GS1 reference hash, the naive one-transaction-per-event design) run side by side
in the same process and run, so ratios hold on a noisy machine."""
