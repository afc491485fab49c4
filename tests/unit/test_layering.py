"""The dependency rules, checked from the code's own imports.

- Between packages: gateway → verifier → ledger, and signproxy → ledger; ledger imports no web
  framework, the verifier never imports the gateway, the sign-proxy neither (nor the verifier) (checked in a fresh interpreter so nothing else leaks in).
- Inside `ledger`: every module sits in a wing, and a wing imports only wings on lower rows of
  `LAYERS`, never a sibling on its own row. Every import counts, function-level ones included:
  an import moved into a function still points the same way.
- No cycle between modules of the ledger at module level.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.paths import REPO_ROOT

LEDGER = REPO_ROOT / "ledger"

# Bottom row first. A wing may import any wing on a row below its own; wings on one row are
# siblings and stay independent of each other. `errors` and `paths` are single-module leaves.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "paths"),
    ("runtime", "epcis"),
    ("proofs",),
    ("store", "chain"),
    ("pipeline", "evidence", "trade"),
    ("demo", "cli"),
)
RANK = {wing: row for row, wings in enumerate(LAYERS) for wing in wings}

PROBE = """
import importlib, pkgutil, sys
pkg = importlib.import_module({pkg!r})
for m in pkgutil.walk_packages(pkg.__path__, {pkg!r} + "."):
    # Alembic's env.py and revision scripts only run inside an alembic context.
    if ".migrations" in m.name:
        continue
    importlib.import_module(m.name)
print(",".join(sorted(n for n in {forbidden!r} if n in sys.modules)))
"""


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("ledger", ("fastapi", "starlette", "uvicorn", "jinja2", "gateway", "verifier")),
        ("verifier", ("gateway", "fastapi", "starlette", "uvicorn")),
        # The sign-proxy is a client of any gateway: the ledger's parsers and signing only.
        ("signproxy", ("gateway", "verifier", "fastapi")),
    ],
)
def test_package_never_imports_upper_layers(package: str, forbidden: tuple[str, ...]) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE.format(pkg=package, forbidden=forbidden)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{package} imports {out.stdout.strip()}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(LEDGER.rglob("*.py"))}


def _imports(path: Path, module: str, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported ledger module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def add(name: str, line: int, top: bool) -> None:
        if name == "ledger" or name.startswith("ledger."):
            found.append((name, line, top))

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child.lineno, top)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    source = ".".join([*base, child.module] if child.module else base)
                else:
                    source = child.module or ""
                for alias in child.names:
                    # `from ledger.store import tables` imports the module ledger.store.tables.
                    sub = f"{source}.{alias.name}"
                    add(sub if sub in known else source, child.lineno, top)
            visit(child, inner)

    visit(tree, True)
    return found


def _wing(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def test_every_ledger_module_sits_in_a_wing() -> None:
    loose = [m for m in _modules() if m != "ledger" and _wing(m) not in RANK]
    assert loose == [], f"modules outside every wing of LAYERS: {loose}"


def test_every_wing_has_a_docstring_that_says_what_it_holds() -> None:
    for wing in RANK:
        init = LEDGER / wing / "__init__.py"
        if not init.exists():  # a single-module leaf such as ledger/errors.py
            assert (LEDGER / f"{wing}.py").exists(), wing
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 20, f"ledger/{wing}/__init__.py needs its paragraph"


def test_wings_import_only_downwards() -> None:
    modules = _modules()
    known = set(modules)
    upward = []
    for module, path in modules.items():
        wing = _wing(module)
        if wing not in RANK:
            continue
        for target, line, _top in _imports(path, module, known):
            other = _wing(target)
            if other == wing or target == "ledger":
                continue
            if other not in RANK or RANK[other] >= RANK[wing]:
                upward.append(f"{path.relative_to(REPO_ROOT)}:{line} {wing} -> {other} ({target})")
    assert upward == [], "imports that do not point down:\n" + "\n".join(upward)


def test_no_import_cycle_between_ledger_modules() -> None:
    modules = _modules()
    known = set(modules)
    graph = {m: {t for t, _, top in _imports(p, m, known) if top and t in known and t != m}
             for m, p in modules.items()}
    # A package's __init__ importing its own modules is how Python loads them, not a cycle.
    for m in graph:
        graph[m] = {t for t in graph[m] if not t.startswith(m + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt, [*stack, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m, [m])
    assert cycles == [], f"import cycles: {cycles}"


def test_the_layering_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a store module importing the pipeline is reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ledger.pipeline.intake import Intake\n",
                     encoding="utf-8")
    found = _imports(probe, "ledger.store.probe", set(_modules()))
    assert found == [("ledger.pipeline.intake", 2, False)]
    assert RANK[_wing(found[0][0])] >= RANK["store"]
