"""The house rules, checked from the code's own imports (every `import` and `from … import`
of a `pipeline` module, at any depth of a file, `TYPE_CHECKING` ones included): which rooms
may not import which (the longest matching path wins), and no import cycle. A change that
breaks one fails here, naming the file and the import."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"

# room → the rooms it must not import (docs/development.md, "Layers")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "pipeline.core": (
        "pipeline.send", "pipeline.state", "pipeline.config", "pipeline.resolve",
        "pipeline.cli", "pipeline.run", "pipeline.engine", "pipeline.read", "pipeline.plan",
        "pipeline.dashboard",
    ),
    "pipeline.send": ("pipeline.core", "pipeline.run", "pipeline.engine", "pipeline.dashboard"),
    "pipeline.state": ("pipeline.core", "pipeline.read"),
    "pipeline.dashboard": ("pipeline.run", "pipeline.engine"),
    "pipeline.plan": ("pipeline.engine",),
    "pipeline.records": ("pipeline.",),  # the bottom of the house: it imports no room
    # an engine is a scheduler over the tasks and the Run: never the run, never another
    "pipeline.engine.local": ("pipeline.run", "pipeline.engine.ray"),
    "pipeline.engine.ray": ("pipeline.run", "pipeline.engine.local"),
    "pipeline.engine.tasks": ("pipeline.run", "pipeline.engine.local", "pipeline.engine.ray"),
    "pipeline.engine.common": ("pipeline.run", "pipeline.engine.local", "pipeline.engine.ray"),
}  # fmt: skip


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Each module → the pipeline modules it imports (a `from pkg import module` names the
    module, not the package)."""
    modules = {_name(p): p for p in PACKAGE.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("pipeline")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if not node.module.startswith("pipeline"):
                    continue
                subs = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                found |= subs or {node.module}
        out[name] = {m for m in found if m != name}
    return out


def _rule(module: str) -> tuple[str, ...]:
    rooms = [r for r in FORBIDDEN if module == r or module.startswith(r + ".")]
    return FORBIDDEN[max(rooms, key=len)] if rooms else ()


def test_no_room_imports_what_its_rule_forbids() -> None:
    broken = [
        f"{module} imports {target}"
        for module, targets in sorted(_imports().items())
        for target in sorted(targets)
        for banned in _rule(module)
        if target == banned or target.startswith(banned if banned.endswith(".") else banned + ".")
    ]
    assert broken == []


def test_no_import_cycle() -> None:
    graph = _imports()
    packages = {m for m in graph if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()}
    # a package's face (`pipeline/__init__.py` hands the public API on lazily) is no room
    edges = {m: {t for t in ts if t not in packages} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_rules_can_fail() -> None:
    """The checker sees an import that breaks a rule (so a green run means something)."""
    assert _rule("pipeline.send.chain") == FORBIDDEN["pipeline.send"]
    assert _rule("pipeline.engine.ray") == FORBIDDEN["pipeline.engine.ray"]
    assert "pipeline.engine.tasks" in _imports()["pipeline.engine.ray"]
