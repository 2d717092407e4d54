"""Rules the test suite keeps, checked on its source with ``ast``:

- tests use no private attribute (``x._name``) of the code under test: a class defined in the
  tests (a fake, a rig) may use its own through ``self`` / ``cls``, nothing else may;
- no module under tests/ imports a test module (``test_*.py``): shared helpers live in
  tests/helpers.py, tests/fakes/, tests/symbol_rules.py and the ``*_support`` / ``*_rig``
  modules;
- a simulator shared by several tests (a fixture of wider than function scope) is driven and
  reset through its admin endpoint (``/sim/admin/*``), never by calling into it or its state.

Each rule's checker is tried on a bad and a good sample first, so a rule cannot pass vacuously.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

# Documented API of named tuples despite the underscore.
NAMEDTUPLE_API = frozenset({"_asdict", "_replace", "_fields", "_make", "_field_defaults"})

# What changes a simulator's clock, faults or connections when called on it or its state.
SIM_CONTROLS = frozenset(
    {
        "pause",
        "resume",
        "step",
        "advance",
        "set_speed",
        "add",
        "clear",
        "release",
        "drop_all",
        "drop_users",
        "abort",
        "close_after",
        "shutdown_notice",
    }
)


@functools.cache
def suite_sources() -> tuple[tuple[str, ast.Module], ...]:
    """Every Python file under tests/, parsed (path relative to the repository)."""
    return tuple(
        (str(p.relative_to(REPO)), ast.parse(p.read_text(encoding="utf-8"), str(p)))
        for p in sorted(TESTS.rglob("*.py"))
    )


# ---- no private attributes ------------------------------------------------------------------


def private(name: str) -> bool:
    """``_name`` but not ``__dunder__`` (nor a named tuple's documented ``_replace`` & co)."""
    dunder = name.startswith("__") and name.endswith("__")
    return name.startswith("_") and not dunder and name not in NAMEDTUPLE_API


def own_privates(cls: ast.ClassDef) -> set[str]:
    """Private names a class defines: methods, class attributes, ``self._x = ...``."""
    names: set[str] = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    for sub in ast.walk(cls):
        if (
            isinstance(sub, ast.Attribute)
            and isinstance(sub.ctx, ast.Store)
            and isinstance(sub.value, ast.Name)
            and sub.value.id in ("self", "cls")
        ):
            names.add(sub.attr)
    return {n for n in names if private(n)}


def classes_in(trees: tuple[ast.Module, ...]) -> dict[str, list[ast.ClassDef]]:
    """Classes defined in the tests, by name."""
    out: dict[str, list[ast.ClassDef]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                out.setdefault(node.name, []).append(node)
    return out


def allowed_privates(cls: ast.ClassDef, classes: dict[str, list[ast.ClassDef]]) -> set[str]:
    """The class's own privates and those of its bases defined in the tests (a product base
    class's privates stay private)."""
    names, todo, seen = set(), [cls], set()
    while todo:
        c = todo.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        names |= own_privates(c)
        for base in c.bases:
            base_name = base.id if isinstance(base, ast.Name) else None
            todo += classes.get(base_name or "", [])
    return names


def private_uses(tree: ast.Module, classes: dict[str, list[ast.ClassDef]]) -> list[str]:
    """Private names used outside their own test class: ``x._y``, ``from m import _y``,
    ``getattr(x, "_y")``."""
    found: list[str] = []
    allowed: dict[int, set[str]] = {}

    def own(receiver: ast.expr, attr: str, stack: list[ast.ClassDef]) -> bool:
        if not (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls") and stack):
            return False
        if id(stack[-1]) not in allowed:
            allowed[id(stack[-1])] = allowed_privates(stack[-1], classes)
        return attr in allowed[id(stack[-1])]

    def visit(node: ast.AST, stack: list[ast.ClassDef]) -> None:
        if isinstance(node, ast.ClassDef):
            stack = [*stack, node]
        if isinstance(node, ast.Attribute) and private(node.attr):
            if not own(node.value, node.attr, stack):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if private(alias.name):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
            and not own(node.args[0], node.args[1].value, stack)
        ):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, stack)

    visit(tree, [])
    return found


def test_the_private_attribute_checker_catches_and_allows() -> None:
    bad = ast.parse(
        "from engine.x import _hidden\n"
        "class Fake(ProductClass):\n"
        "    def m(self):\n"
        "        return self._product_private\n"
        "def test(agent):\n"
        "    getattr(agent, '_cfg')\n"
        "    return agent._cfg\n"
    )
    good = ast.parse(
        "class Base:\n"
        "    def __init__(self):\n"
        "        self._count = 0\n"
        "class Fake(Base):\n"
        "    _flag = True\n"
        "    def _bump(self):\n"
        "        self._count += 1\n"
        "    def run(self):\n"
        "        self._bump()\n"
        "        return self._flag, self.__class__, row._replace(a=1)\n"
    )
    classes = classes_in((bad, good))
    assert [u.split(":")[0] for u in private_uses(bad, classes)] == ["1", "4", "6", "7"]
    assert private_uses(good, classes) == []


def test_tests_use_no_private_attributes() -> None:
    sources = suite_sources()
    classes = classes_in(tuple(tree for _, tree in sources))
    found = [f"{path}:{use}" for path, tree in sources for use in private_uses(tree, classes)]
    assert found == [], "private names used by tests (assert on public behaviour):\n" + "\n".join(
        found
    )


# ---- no test module imports another ---------------------------------------------------------


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every module an import statement names (``from pkg import mod`` counts ``pkg.mod``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if node.module else base + alias.name


def imports_of_test_modules(tree: ast.Module) -> list[str]:
    """Imports of a test module (a module of the tests named ``test_*``)."""
    return [
        f"{line}: {name}"
        for line, name in imported_modules(tree)
        if name.startswith(("tests.", ".")) and name.rsplit(".", 1)[-1].startswith("test_")
    ]


def test_the_test_import_checker_catches_and_allows() -> None:
    bad = ast.parse(
        "from tests.unit.test_bracket import RULES\n"
        "from tests.integration import test_pipeline as p\n"
        "import tests.e2e.test_system\n"
        "from .test_flow import setup\n"
    )
    good = ast.parse(
        "from tests.helpers import eventually\n"
        "from tests.symbol_rules import X\n"
        "from aiohttp.test_utils import TestServer\n"
    )
    assert [u.split(":")[0] for u in imports_of_test_modules(bad)] == ["1", "2", "3", "4"]
    assert imports_of_test_modules(good) == []


def test_no_test_module_imports_another() -> None:
    found = [
        f"{path}:{use}" for path, tree in suite_sources() for use in imports_of_test_modules(tree)
    ]
    assert found == [], "move what is shared to a helper module:\n" + "\n".join(found)


# ---- shared simulators are driven through /sim/admin ----------------------------------------


def shared_sim_fixtures(tree: ast.Module) -> set[str]:
    """Fixtures wider than one test that start a simulator."""
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            scopes = [
                kw.value.value
                for kw in (deco.keywords if isinstance(deco, ast.Call) else [])
                if kw.arg == "scope" and isinstance(kw.value, ast.Constant)
            ]
            body = ast.unparse(node)
            if (
                scopes
                and scopes[0] != "function"
                and ("running_sim(" in body or "SimServer(" in body)
            ):
                names.add(node.name)
    return names


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _reaches(node: ast.expr, names: set[str]) -> bool:
    """Whether ``node`` is an object reached from one of ``names``: the name itself, an
    attribute or item of it, what a method of it returns, or what a function returns that
    was handed it (``freplay(sim)``). A value computed from it (``sim.base_url + "/x"``) is
    not."""
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Attribute | ast.Subscript):
        return _reaches(node.value, names)
    if isinstance(node, ast.Call):
        handed = any(isinstance(a, ast.Name) and a.id in names for a in node.args)
        return handed or _reaches(node.func, names)
    return False


def sim_reaches(function: ast.FunctionDef | ast.AsyncFunctionDef, shared: set[str]) -> list[str]:
    """Calls of a simulator control, or writes, on anything reached from a shared simulator
    (the fixture's parameter, names assigned from it, the server a shared fixture starts)."""
    tainted = {a.arg for a in function.args.args if a.arg in shared}
    if function.name in shared:
        for node in ast.walk(function):
            if (
                isinstance(node, ast.withitem)
                and node.optional_vars is not None
                and "running_sim(" in ast.unparse(node.context_expr)
            ):
                tainted |= _names(node.optional_vars)
            if isinstance(node, ast.Assign) and "SimServer(" in ast.unparse(node.value):
                tainted |= {n for t in node.targets for n in _names(t)}
    grew = True
    while grew:  # a name bound to something reached from a tainted name is tainted
        grew = False
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and _reaches(node.value, tainted):
                new = {t.id for t in node.targets if isinstance(t, ast.Name)}
                grew |= not new <= tainted
                tainted |= new
    found = []
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SIM_CONTROLS
            and _reaches(node.func.value, tainted)
        ):
            found.append((node.lineno, ast.unparse(node)))
        targets: list[ast.expr] = list(node.targets) if isinstance(node, ast.Assign) else []
        targets += [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Attribute | ast.Subscript) and _reaches(t.value, tainted):
                found.append((t.lineno, f"{ast.unparse(t)} = ..."))
    return [f"{line}: {text}" for line, text in sorted(found)]


def shared_sim_misuse(tree: ast.Module) -> list[str]:
    """Every reach into a shared simulator in one module."""
    shared = shared_sim_fixtures(tree)
    if not shared:
        return []
    found = [
        use
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for use in sim_reaches(node, shared)
    ]
    return sorted(found, key=lambda use: int(use.split(":")[0]))


def test_the_shared_simulator_checker_catches_and_allows() -> None:
    bad = ast.parse(
        "@pytest_asyncio.fixture(scope='module')\n"
        "async def sim():\n"
        "    async with running_sim(CONFIG) as server:\n"
        "        yield server\n"
        "        server.state.faults.clear()\n"
        "async def test_a(sim):\n"
        "    replay = sim.state.replay\n"
        "    replay.step()\n"
        "    sim.resume()\n"
        "    sim.state.replay.paused = True\n"
    )
    good = ast.parse(
        "@pytest_asyncio.fixture(scope='module')\n"
        "async def sim():\n"
        "    async with running_sim(CONFIG) as server:\n"
        "        yield server\n"
        "async def test_a(sim):\n"
        "    await sim_admin(sim, 'advance', {'ms': update_ms(sim)})\n"
        "    assert sim.state.replay.in_progress\n"
        "async def test_own():\n"
        "    async with running_sim(CONFIG) as server:\n"
        "        server.resume()\n"
    )
    assert [u.split(":")[0] for u in shared_sim_misuse(bad)] == ["5", "8", "9", "10"]
    assert shared_sim_misuse(good) == []


def test_shared_simulators_are_driven_through_the_admin_endpoint() -> None:
    modules = [(path, tree) for path, tree in suite_sources() if shared_sim_fixtures(tree)]
    assert len(modules) >= 5  # the sim integration tests share one server per module
    found = [f"{path}:{use}" for path, tree in modules for use in shared_sim_misuse(tree)]
    assert found == [], "use /sim/admin/* (tests/integration/sim_support.py):\n" + "\n".join(found)
