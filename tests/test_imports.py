"""The package's import graph: stage sub-packages import one way, no module circle, nothing imports the cli."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "facemask_live"
# the sub-packages in data-flow order: each may import only itself and those before it
ORDER = ["core", "sources", "detection", "tracking", "outputs", "events", "engine", "sitetools", "app", "measure",
         "training"]
TOP = {"__init__", "__main__", "bench", "evaluate"}  # the package's face: the public API and entry points
LONG = 400  # lines; a longer module says why at its top ("Long because ...")


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_imports(path: Path) -> set[str]:
    """Dotted facemask_live modules (or packages) imported by ``path``, also inside functions."""
    me = module_name(path).split(".")
    if path.name != "__init__.py":
        me = me[:-1]  # the package the module is in
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = me[: len(me) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("facemask_live"):
                found.add(mod)
                found.update(f"{mod}.{a.name}" for a in node.names)  # from pkg import module
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("facemask_live"))
    return found


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: {d for d in package_imports(p) if d in mods and d != m and not m.startswith(d + ".")} for m, p in mods.items()}


def stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ORDER) else None


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
    assert "facemask_live.core.config" in g["facemask_live.engine.build"]


def test_stages_import_one_way():
    bad = []
    for mod, deps in graph().items():
        s = stage(mod)
        if s is None:
            continue
        for dep in deps:
            d = stage(dep)
            if d is not None and ORDER.index(d) > ORDER.index(s):
                bad.append(f"{mod} -> {dep}")
    assert not bad, "a stage imports a later one: " + ", ".join(sorted(bad))


def test_top_level_is_the_face_only():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= TOP, f"modules at the top of the package: {sorted(top - TOP)}"
    subs = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subs == set(ORDER), sorted(subs ^ set(ORDER))


def test_long_modules_say_why():
    quiet = []
    for mod, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LONG and "Long because" not in text[:3000]:
            quiet.append(f"{mod} ({text.count(chr(10))} lines)")
    assert not quiet, "modules over 400 lines without a reason at the top: " + ", ".join(quiet)


def test_tests_mirror_the_layout():
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders <= set(ORDER), sorted(folders - set(ORDER))
    assert {"core", "sources", "detection", "engine", "outputs", "app"} <= folders


def test_nothing_imports_the_cli():
    cli = "facemask_live.app.cli"
    users = [m for m, deps in graph().items() if cli in deps and m not in (cli, "facemask_live.__main__")]
    users += [p for p in [*REPO.glob("tools/*.py"), *REPO.glob("docs/*.py"), REPO / "train_mobilenet.py"]
              if cli in package_imports(p)]
    assert not users, f"modules importing facemask_live.app.cli: {users}"
    g = graph()
    assert not any(d.startswith("facemask_live.app") for d in g["facemask_live.engine.build"])
    assert not any("facemask_live.app.cli" in g[m] for m in g if m.startswith("facemask_live.app.window"))
