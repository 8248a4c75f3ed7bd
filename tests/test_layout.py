"""The package's layout: no import cycles, small files (docs/design.md, "Layout")."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "funcnet"
MAX_LINES = 320  # "well under 300 lines, one concept each" (STYLE.md), with a little slack


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """The funcnet modules ``path`` imports at module level (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("funcnet")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("funcnet"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found & set(MODULES)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle met by a depth-first walk of ``graph`` (module -> modules it imports)."""
    found, state = [], {}  # state: 1 on the current path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                found.append([*path[path.index(other) :], other])
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


def test_no_module_imports_a_module_that_imports_it():
    assert cycles({name: imports(path) for name, path in MODULES.items()}) == []


def test_the_import_graph_and_the_cycle_check():
    assert {"funcnet.core.op", "funcnet.core.layer"} <= imports(MODULES["funcnet.layers.dense"])
    assert "funcnet.layers.combinators" in imports(MODULES["funcnet.layers"])
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_files_are_small():
    lines = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in MODULES.values()}
    assert {path: n for path, n in lines.items() if n > MAX_LINES} == {}
