"""The dependency rule: gateway → verifier → ledger; ledger imports no web framework and the
verifier never imports the gateway. Checked in a fresh interpreter so nothing else leaks in."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import importlib, pkgutil, sys
pkg = importlib.import_module({pkg!r})
for m in pkgutil.walk_packages(pkg.__path__, {pkg!r} + "."):
    # Alembic's env.py and revision scripts only run inside an alembic context.
    if m.name.startswith("ledger.migrations"):
        continue
    importlib.import_module(m.name)
print(",".join(sorted(n for n in {forbidden!r} if n in sys.modules)))
"""


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("ledger", ("fastapi", "starlette", "uvicorn", "jinja2", "gateway", "verifier")),
        ("verifier", ("gateway", "fastapi", "starlette", "uvicorn")),
    ],
)
def test_package_never_imports_upper_layers(package: str, forbidden: tuple[str, ...]) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE.format(pkg=package, forbidden=forbidden)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{package} imports {out.stdout.strip()}"
