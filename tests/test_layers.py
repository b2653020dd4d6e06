"""The house rules, checked from the code's own imports (every `import` and `from … import`
of a `pipeline` module, at any depth of a file, `TYPE_CHECKING` ones included): which rooms
may not import which (the longest matching path wins), and no import cycle. A change that
breaks one fails here, naming the file and the import."""

from __future__ import annotations

from pathlib import Path

from module_graph import cycles, faces, imports, room_cycles  # scripts/module_graph.py

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


def _imports() -> dict[str, set[str]]:
    return imports(PACKAGE)


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
    """None between modules (a package's face, which hands names on lazily, is no room)."""
    graph = _imports()
    assert cycles(graph, faces(PACKAGE, graph)) == []


def test_no_import_cycle_between_rooms() -> None:
    """None between rooms either (`core`, `run`, …): the settings once asked the engines'
    registry what an engine can do while every engine imports the settings."""
    assert room_cycles(_imports()) == []


def test_the_rules_can_fail() -> None:
    """The checker sees an import that breaks a rule (so a green run means something)."""
    assert _rule("pipeline.send.chain") == FORBIDDEN["pipeline.send"]
    assert _rule("pipeline.engine.ray") == FORBIDDEN["pipeline.engine.ray"]
    assert "pipeline.engine.tasks" in _imports()["pipeline.engine.ray"]
    two = {"pipeline.config": {"pipeline.engine"}, "pipeline.engine.local": {"pipeline.config"}}
    assert room_cycles(two) == [["config", "engine"]] and cycles(two, {"pipeline.engine"}) == []
