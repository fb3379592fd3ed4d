"""The layout's rules, read from the source: imports run one way and never in a circle.

Every import counts, also one inside a function: a cycle patched with a late import is still a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# the import package's subpackages and the folders they are in (pyproject.toml's package-dir)
FOLDERS = {"engine": ROOT / "engine", "training": ROOT / "training", "bridge": ROOT / "bridge",
           "max4live": ROOT / "max4live", "commands": ROOT / "cdgmvae" / "commands"}
LIBRARIES = ("engine", "training", "bridge")


def modules() -> dict[str, Path]:
    found = {f"cdgmvae.{package}.{path.stem}": path for package, folder in FOLDERS.items()
             for path in folder.glob("*.py") if path.stem != "__init__"}
    found |= {f"cdgmvae.{path.stem}": path for path in (ROOT / "cdgmvae").glob("*.py") if path.stem != "__init__"}
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules that a file imports, anywhere in it."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from cdgmvae.engine import codec` imports the module cdgmvae.engine.codec
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        out |= {name for name in names if name in known}
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, set(found)) - {name} for name, path in found.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a list of modules (its first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_itself_back():
    edges = graph()
    assert "cdgmvae.bridge.sources" in edges and edges["cdgmvae.commands.live"]  # the graph was read
    assert find_cycle(edges) is None


@pytest.mark.parametrize("package, forbidden", [
    ("engine", ("bridge", "training", "commands", "max4live")),
    ("training", ("bridge", "commands", "max4live")),
    ("bridge", ("training", "commands", "max4live")),
])
def test_imports_run_one_way(package, forbidden):
    wrong = {(name, target) for name, targets in graph().items() if name.startswith(f"cdgmvae.{package}.")
             for target in targets if target.split(".")[1] in forbidden}
    assert not wrong


@pytest.mark.parametrize("package", LIBRARIES)
def test_libraries_take_typed_arguments_not_argparse(package):
    users = [path.name for path in FOLDERS[package].glob("*.py") if "argparse" in path.read_text(encoding="utf-8")]
    assert not users
