"""The package's module graph, from the code's own imports, for any checkout.

    python scripts/module_graph.py                 # this checkout
    python scripts/module_graph.py --root ../old   # another (a `git worktree` of a commit)

Prints the modules and the import arrows between rooms (a subpackage such as `core`, or a
top-level module such as `run`), how many module imports each arrow stands for, and every
import cycle between modules. Imports are read as `tests/test_layers.py` reads them (every
`import` and `from … import` of a `pipeline` module, at any depth of a file); nothing is run.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path


def module_name(package: Path, path: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(package: Path) -> dict[str, set[str]]:
    """Each module → the pipeline modules it imports (a `from pkg import module` names the
    module, not the package)."""
    modules = {module_name(package, p): p for p in package.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("pipeline")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                subs = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                found |= subs or {node.module}
        out[name] = {m for m in found if m != name and m in modules}  # pipeline's own only
    return out


def room(module: str) -> str:
    """`pipeline.core.convert` → `core`; `pipeline.run` → `run`; the package's face → `pipeline`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(graph: dict[str, set[str]], skip: set[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), `skip` left out."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w in skip:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index and v not in skip:
            visit(v)
    return found


def faces(package: Path, graph: dict[str, set[str]]) -> set[str]:
    """The packages' `__init__` modules: a face hands names on (the public API, lazily) and
    is no room of its own in a cycle."""
    return {m for m in graph if (package.parent / m.replace(".", "/") / "__init__.py").exists()}


def room_arrows(graph: dict[str, set[str]]) -> Counter[tuple[str, str]]:
    """(room, room it imports) → how many module imports the arrow stands for."""
    return Counter(
        (room(a), room(b)) for a, targets in graph.items() for b in targets if room(a) != room(b)
    )


def room_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between rooms (the package's own face left out)."""
    between: dict[str, set[str]] = {}
    for a, b in room_arrows(graph):
        between.setdefault(a, set()).add(b)
    return cycles(between, {"pipeline"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args()
    package = args.root / "pipeline"
    graph = imports(package)
    arrows = room_arrows(graph)
    rooms = sorted({room(m) for m in graph})
    print(f"{len(graph)} modules in {len(rooms)} rooms; {sum(len(t) for t in graph.values())} "
          f"module imports; {len(arrows)} arrows between rooms")  # fmt: skip
    for r in rooms:
        out = sorted((b, n) for (a, b), n in arrows.items() if a == r)
        print(f"  {r:<11} → " + (", ".join(f"{b} ({n})" for b, n in out) or "(nothing)"))
    for what, loops in (
        ("modules", cycles(graph, faces(package, graph))),
        ("rooms", room_cycles(graph)),
    ):
        print(f"import cycles between {what}: {len(loops)}")
        for group in loops:
            print("  " + " ↔ ".join(group))


if __name__ == "__main__":
    main()
