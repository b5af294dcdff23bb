"""The shape of ``mle_gym`` stays as drawn in ARCHITECTURE.md: layers that import only
downwards, and no import cycle between its modules.

Every import counts, for both rules: module-level ones, those inside functions (kept lazy so
that ``import mle_gym`` stays light), those under ``TYPE_CHECKING``, and entry-point strings
such as ``"mle_gym.env:MLEEnv"``. Laziness changes when a module is loaded, not what it
depends on: the two loops this test was written against (``data`` <-> ``full_data`` and
``sandbox.docker_backend`` <-> ``image`` <-> ``gc``) were each closed by a function-level
import, so a rule on module-level imports alone would have passed them. A lazy import is
fine as long as it points one way.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

import mle_gym

PACKAGE = "mle_gym"
ROOT = Path(mle_gym.__file__).resolve().parent

# The drawn shape, bottom up: a module may import its own layer and the layers below.
# An entry names a module or a whole package (``mle_gym.sandbox`` covers its submodules).
LAYERS: list[tuple[str, list[str]]] = [
    ("foundations: task specs, limits and runtime options, diagnostics, the chat client",
     ["mle_gym.spec", "mle_gym.task_folders", "mle_gym.limits", "mle_gym.options", "mle_gym.diagnostics",
      "mle_gym.llm"]),
    ("task data: lite generation, full preparation, the cache and its integrity",
     ["mle_gym.data", "mle_gym.full_data"]),
    ("local models: located by path, converted, loaded, served",
     ["mle_gym.models"]),
    ("the parts of a step: instrument, sandbox, grade, reward, prompt",
     ["mle_gym.instrument", "mle_gym.sandbox", "mle_gym.grading", "mle_gym.reward",
      "mle_gym.prompt", "mle_gym.consensus"]),
    ("one step: program in, StepResult out",
     ["mle_gym.step"]),
    ("an episode's memory and the record of its steps, however they were run",
     ["mle_gym.episode", "mle_gym.trajectories"]),
    ("ways to run episodes: the env and its registration, the pool, agents and their loop, "
     "wrappers",
     ["mle_gym.env", "mle_gym.registry", "mle_gym", "mle_gym.pool", "mle_gym.agents",
      "mle_gym.wrappers"]),
    ("clients of episodes: trainer adapters, the leaderboard",
     ["mle_gym.integrations", "mle_gym.integrations.openenv", "mle_gym.integrations.verifiers",
      "mle_gym.leaderboard", "mle_gym.experience", "mle_gym.lessons"]),
    ("entry points: the command line and the demo",
     ["mle_gym.cli", "mle_gym.demo"]),
]

ENTRY_POINT_STRING = re.compile(r"^(mle_gym(?:\.\w+)*):\w+$")


@dataclass(frozen=True)
class Import:
    """``source`` depends on ``target`` (both module names) at ``line`` of ``file``; ``how``
    says whether at module level, in a function, under TYPE_CHECKING or by name."""

    source: str
    target: str
    file: str
    line: int
    how: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}  ({self.file} line {self.line}, {self.how})"


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` under ``root`` (a package's ``__init__.py``
    is the package itself; a folder of modules without one is a namespace package)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
        for depth in range(1, len(parts)):  # the folders above it
            found.setdefault(".".join(parts[:depth]), root.joinpath(*parts[1:depth]))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _named_imports(tree: ast.AST, own_package: str, package: str):
    """(module it names, candidate submodule or None, line, how) for each import of
    ``package`` in ``tree``; relative imports are made absolute from ``own_package``."""
    work: list[tuple[ast.AST, str]] = [(tree, "module level")]
    while work:
        node, how = work.pop()
        for child in ast.iter_child_nodes(node):
            inner = how
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                inner = f"in function {getattr(child, 'name', 'lambda')}"
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                inner = "under TYPE_CHECKING"
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == package:
                        yield alias.name, None, child.lineno, how
            elif isinstance(child, ast.ImportFrom):
                origin = child.module or ""
                if child.level:  # relative: from the importing module's package upwards
                    base = own_package.split(".")
                    base = base[: len(base) - child.level + 1]
                    origin = ".".join(base + ([child.module] if child.module else []))
                if origin.split(".")[0] == package:
                    for alias in child.names:
                        yield origin, f"{origin}.{alias.name}", child.lineno, how
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                match = ENTRY_POINT_STRING.match(child.value)
                if match:
                    yield match.group(1), None, child.lineno, "entry-point string"
            work.append((child, inner))


def read_imports(root: Path, package: str) -> tuple[list[Import], list[Import]]:
    """Every dependency between the package's modules, read from the source with ``ast``;
    and the imports that name no module of the package (their ``target`` as written)."""
    modules = find_modules(root, package)
    found: list[Import] = []
    broken: list[Import] = []
    for name, path in modules.items():
        if path.is_dir():
            continue
        own_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), filename=str(path))
        file = str(Path(package, path.relative_to(root)))
        for origin, submodule, line, how in _named_imports(tree, own_package, package):
            target = submodule if submodule in modules else origin
            record = Import(name, target, file, line, how)
            if target not in modules:
                broken.append(record)
            elif target != name:
                found.append(record)
    def order(imports: list[Import]) -> list[Import]:  # one per line and target
        return sorted(set(imports), key=lambda i: (i.source, i.line, i.target))

    return order(found), order(broken)


def layer_of(module: str, layers: list[tuple[str, list[str]]]) -> int | None:
    """The index of the layer whose longest entry covers ``module`` (an entry covers
    itself and, for a subpackage, its submodules)."""
    best: tuple[int, int] | None = None  # (entry length, layer)
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            # The package itself is an entry of its own, not a prefix of everything.
            covers = module == entry or (entry != PACKAGE and module.startswith(entry + "."))
            if covers and (best is None or len(entry) > best[0]):
                best = (len(entry), index)
    return None if best is None else best[1]


def cycles(imports: list[Import]) -> list[list[Import]]:
    """One shortest loop through each strongly connected group of modules."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        graph.setdefault(imp.source, {}).setdefault(imp.target, imp)
    loops = []
    for group in _strongly_connected(graph):
        if len(group) < 2:
            continue
        start = min(group)
        loops.append(_shortest_loop(start, graph, group))
    return loops


def _strongly_connected(graph: dict[str, dict[str, Import]]) -> list[set[str]]:
    # Tarjan's algorithm, iterative so a deep package cannot hit the recursion limit.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    nodes = sorted(set(graph) | {t for edges in graph.values() for t in edges})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, {})))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def _shortest_loop(start: str, graph: dict[str, dict[str, Import]], group: set[str]) -> list[Import]:
    came_from: dict[str, Import] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target, imp in sorted(graph.get(node, {}).items()):
            if target not in group:
                continue
            if target == start:
                path = [imp]
                while path[0].source != start:
                    path.insert(0, came_from[path[0].source])
                return path
            if target not in came_from:
                came_from[target] = imp
                queue.append(target)
    raise AssertionError(f"{start} is in a strongly connected group but on no loop")


def upward_imports(imports: list[Import], layers: list[tuple[str, list[str]]]) -> list[str]:
    """A line per import from a lower layer into a higher one, saying how to fix it."""
    problems = []
    for imp in imports:
        low, high = layer_of(imp.source, layers), layer_of(imp.target, layers)
        if low is None or high is None or high <= low:
            continue
        problems.append(
            f"{imp}\n    layer {low} ({layers[low][0]}) must not depend on layer {high} "
            f"({layers[high][0]}). Fix: move what it needs down to layer {low} or below, or "
            "let the higher layer pass it in (an argument, a callback, a protocol).")
    return problems


def unplaced(modules: dict[str, Path], layers: list[tuple[str, list[str]]]) -> list[str]:
    """Modules no layer covers, and entries that name no module (a stale table)."""
    problems = [f"{name} ({path}) is in no layer: add it to LAYERS in {Path(__file__).name} "
                "and to ARCHITECTURE.md" for name, path in modules.items()
                if layer_of(name, layers) is None]
    problems += [f"LAYERS names {entry}, which is no module of {PACKAGE}: remove it"
                 for _, entries in layers for entry in entries if entry not in modules]
    return problems


def describe_loops(loops: list[list[Import]]) -> str:
    lines = []
    for loop in loops:
        lines.append(" -> ".join([loop[0].source] + [imp.target for imp in loop]))
        lines += [f"    {imp}" for imp in loop]
        lines.append(
            "    Fix: move what both sides need into a module below them (shared types, "
            "constants, a small helper) or pass it in as an argument; a function-level "
            "import only hides the loop at import time.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the package


@pytest.fixture(scope="module")
def package() -> tuple[dict[str, Path], list[Import], list[Import]]:
    return find_modules(ROOT, PACKAGE), *read_imports(ROOT, PACKAGE)


def test_every_module_has_a_layer(package):
    modules, _, _ = package
    problems = unplaced(modules, LAYERS)
    assert not problems, "\n".join(problems)


def test_every_import_names_a_module(package):
    # A lazy import of a module that moved fails only when its function first runs.
    _, _, broken = package
    assert not broken, "imports of modules that do not exist:\n" + "\n".join(map(str, broken))


def test_no_import_cycle_between_modules(package):
    _, imports, _ = package
    loops = cycles(imports)
    assert not loops, f"{len(loops)} import loop(s) in {PACKAGE}:\n{describe_loops(loops)}"


def test_no_lower_layer_imports_a_higher_one(package):
    _, imports, _ = package
    problems = upward_imports(imports, LAYERS)
    assert not problems, (f"{len(problems)} import(s) against the layers:\n"
                          + "\n".join(problems))


# ------------------------------------------------------------- the reader on a made-up package


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_reader_sees_every_kind_of_import(tmp_path):
    _write(tmp_path, {
        "__init__.py": "from mle_gym.low import thing\n",
        "low.py": ("from typing import TYPE_CHECKING\n"
                   "if TYPE_CHECKING:\n    from .sub.high import H\n"
                   "def late():\n    from mle_gym.sub import high\n"
                   "thing = 1\n"),
        "sub/__init__.py": "from . import high\nfrom ..low import thing\n",
        "sub/high.py": ("import mle_gym.low as low\n"
                        "NAME = 'mle_gym.sub.space.other:Thing'\n"
                        "import mle_gym.gone\n"),
        "sub/space/other.py": "import os\nfrom os import path\nfrom mle_gym.sub import space\n",
    })
    imports, broken = read_imports(tmp_path, PACKAGE)
    assert {(i.source, i.target, i.how) for i in imports} == {
        ("mle_gym", "mle_gym.low", "module level"),
        ("mle_gym.low", "mle_gym.sub.high", "under TYPE_CHECKING"),
        ("mle_gym.low", "mle_gym.sub.high", "in function late"),
        ("mle_gym.sub", "mle_gym.sub.high", "module level"),
        ("mle_gym.sub", "mle_gym.low", "module level"),
        ("mle_gym.sub.high", "mle_gym.low", "module level"),
        ("mle_gym.sub.high", "mle_gym.sub.space.other", "entry-point string"),
        ("mle_gym.sub.space.other", "mle_gym.sub.space", "module level"),  # a namespace package
    }
    assert [(i.target, i.file, i.line) for i in broken] == [("mle_gym.gone", "mle_gym/sub/high.py", 3)]


def test_a_lazy_loop_and_an_upward_import_are_caught(tmp_path):
    _write(tmp_path, {
        "__init__.py": "",
        "a.py": "from mle_gym import b\n",
        "b.py": "def f():\n    import mle_gym.c\n",
        "c.py": "from mle_gym.a import x\n",
        "top.py": "import mle_gym.a\n",
    })
    imports, _ = read_imports(tmp_path, PACKAGE)
    loops = cycles(imports)
    assert [[i.source for i in loop] for loop in loops] == [["mle_gym.a", "mle_gym.b", "mle_gym.c"]]
    assert "in function f" in describe_loops(loops)
    layers = [("bottom", ["mle_gym.a", "mle_gym.b"]),
              ("top", ["mle_gym", "mle_gym.c", "mle_gym.top"])]
    problems = upward_imports(imports, layers)
    assert len(problems) == 1 and problems[0].startswith("mle_gym.b -> mle_gym.c")
    modules = find_modules(tmp_path, PACKAGE)
    assert unplaced(modules, layers) == []
    assert unplaced(modules, layers[:1]) == [
        f"{name} ({modules[name]}) is in no layer: add it to LAYERS in test_architecture.py "
        "and to ARCHITECTURE.md" for name in ("mle_gym", "mle_gym.c", "mle_gym.top")]
    assert unplaced(modules, [*layers, ("x", ["mle_gym.gone"])]) == [
        "LAYERS names mle_gym.gone, which is no module of mle_gym: remove it"]
