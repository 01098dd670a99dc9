"""The package's import graph, read from the source with `ast`: every import of a textgen module,
at module level and inside functions (an import deferred into a function still ties the two
modules together; deferring it only hides a cycle). The library has no cycle, and the applications
(textgen.cli, textgen.explorer, textgen.experiments) sit on top of it: the library imports none of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "textgen"
FRONT_ENDS = ("textgen.cli", "textgen.explorer")  # may import each other and the library
APPLICATIONS = (*FRONT_ENDS, "textgen.experiments")  # the experiments may import the library, not the reverse


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The textgen modules that module `name` imports anywhere in its source. `from a.b import c`
    is module a.b.c when that is a module, else a.b; a relative import is resolved first."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import textgen.a.b as x` names a module; an attribute path does not
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as its modules in order (the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                return [*path[path.index(step):], step]
            elif step not in state:
                state[step] = 1
                path.append(step)
                stack.append(iter(sorted(graph.get(step, ()))))
    return None


def inside(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def test_the_walk_finds_imports_at_module_level_inside_functions_and_relative(tmp_path):
    root = tmp_path / "textgen"
    for name in ("a", "b", "c", "d"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "a" / "one.py").write_text("import textgen.b.two as two\n\ndef f():\n    from textgen.c import three\n")
    (root / "b" / "two.py").write_text("from textgen.d import Name\nfrom . import other\n")
    (root / "b" / "other.py").write_text("")
    (root / "c" / "three.py").write_text("def g():\n    from ..a.one import f\n")
    modules = module_names(root)
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    assert graph["textgen.a.one"] == {"textgen.b.two", "textgen.c.three"}
    assert graph["textgen.b.two"] == {"textgen.d", "textgen.b.other"}
    assert graph["textgen.c.three"] == {"textgen.a.one"}
    assert find_cycle(graph) == ["textgen.a.one", "textgen.c.three", "textgen.a.one"]
    del graph["textgen.c.three"]
    assert find_cycle(graph) is None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize(("applications", "importers"), [(FRONT_ENDS, FRONT_ENDS), (("textgen.experiments",), APPLICATIONS)])
def test_the_library_imports_no_application(applications, importers):
    wrong = sorted(f"{module} imports {target}" for module, targets in import_graph().items() if not inside(module, importers)
                   for target in targets if inside(target, applications))
    assert wrong == []
