"""Generated data, not domain code: the demo's consignments as EPCIS documents (`journey`) and
the scenarios the benchmarks and tests play through the real components (`scenario`).
Nothing below imports it.
"""
