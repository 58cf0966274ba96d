"""The package's import graph: no circle among its modules, and nothing imports the cli front end."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "facemask_live"


def package_imports(path: Path) -> set[str]:
    """Modules of facemask_live imported by ``path`` (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y / from . import x
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
            elif node.module and node.module.startswith("facemask_live"):
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("facemask_live."))
    return found


def graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return {p.stem: package_imports(p) & modules - {p.stem} for p in PACKAGE.glob("*.py")}


def test_no_import_circle():
    g = graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for dep in sorted(g[mod]):
            assert state.get(dep) != 1, "import circle: " + " -> ".join([*path, mod, dep])
            if dep not in state:
                visit(dep, [*path, mod])
        state[mod] = 2

    for mod in sorted(g):
        if mod not in state:
            visit(mod, [])
    assert "app" in g and "config" in g["app"]


def test_nothing_imports_the_cli():
    users = [p for p in PACKAGE.glob("*.py") if p.stem not in ("cli", "__main__") and "cli" in package_imports(p)]
    users += [p for p in [*REPO.glob("tools/*.py"), *REPO.glob("docs/*.py"), REPO / "train_mobilenet.py"]
              if "cli" in package_imports(p)]
    assert not users, f"modules importing facemask_live.cli: {users}"
    assert "gui" not in graph()["app"] and "cli" not in graph()["gui"]
