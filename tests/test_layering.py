"""The dependency rules of ARCHITECTURE.md, for every part of loom_jupyter, checked two ways.

    "Dependencies point one way: `client` <- `server`, `client` <- `widgets` <- `magics`,
    `client` <- `local` (models only). `client` never imports tornado, jupyter_server, IPython
    or ipywidgets; a test keeps it that way."

Statically, every import of every module of a part is read with `ast`: module level, inside
functions, under TYPE_CHECKING, and `importlib.import_module` with a name known before run time.
At run time, a fresh interpreter imports each module of a part in turn and records what each
import newly loaded, which catches what an import drags in behind it. Each violation is reported
as `module -> imported (rule)`.

The third-party stacks are held to the same one-way rule: each belongs to the part(s) whose job
it is ("The five parts"), and a part may import the stacks of its own and of the parts it builds
on, never another's. For the client that is exactly the sentence quoted above.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import loom_jupyter

# The parts and the parts each builds on (its arrows in ARCHITECTURE.md).
USES: dict[str, tuple[str, ...]] = {
    "client": (),
    "server": ("client",),
    "widgets": ("client",),
    "magics": ("widgets", "client"),
    "local": ("client.models",),  # "(models only)"
}
# Third-party stacks, by the top-level names that make them up.
STACKS: dict[str, tuple[str, ...]] = {
    "tornado": ("tornado",),
    "jupyter_server": ("jupyter_server",),
    "IPython": ("IPython", "ipykernel"),
    "ipywidgets": ("ipywidgets", "anywidget"),
}
# Whose job each stack is: server is "a jupyter-server extension (ExtensionApp, tornado)", local
# runs on "tornado, SQLite", magics is "the IPython extension", widgets are ipywidgets/anywidget
# (IPython's own widget system); the client "knows nothing about Jupyter".
OWN_STACKS: dict[str, tuple[str, ...]] = {
    "client": (),
    "server": ("tornado", "jupyter_server"),
    "local": ("tornado",),
    "widgets": ("ipywidgets", "IPython"),
    "magics": ("IPython",),
}
# What an import of the part's modules must visibly load at run time: the probe's positive control.
LOADED_AT_RUN_TIME = {
    "client": ("httpx", "websockets", "pydantic"),
    "server": ("tornado", "jupyter_server"),
    "local": ("tornado",),
    "widgets": ("ipywidgets", "anywidget"),
    "magics": ("IPython",),
}
# Edges that break a rule today; the test fails once one is gone, so the entry goes with it.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@dataclass(frozen=True)
class Layers:
    """The rules for the parts of the package imported as `root`."""

    root: str
    uses: Mapping[str, tuple[str, ...]]
    own_stacks: Mapping[str, tuple[str, ...]]

    def stacks_of(self, part: str) -> set[str]:
        parts = [part, *(used.split(".")[0] for used in self.uses[part])]
        return {stack for p in parts for stack in self.own_stacks[p]}

    def why_not(self, part: str, imported: str, at_run_time: bool = False) -> str | None:
        """The rule `part` breaks by importing the module `imported`, or None if it may.

        The package root and its version are everyone's; other top-level modules (cli.py and
        its helpers) are the application built on the parts, which no part imports. At run
        time, importing client.models runs client/__init__.py, so the whole client may load.
        """
        if _under(imported, self.root):
            uses = self.uses[part]
            reachable = {used.split(".")[0] if at_run_time else used for used in uses} | {part}
            if imported in (self.root, f"{self.root}._version") or any(
                    _under(imported, f"{self.root}.{p}") for p in reachable):
                return None
            return f"{part} builds only on {' and '.join(uses)}" if uses else \
                f"{part} builds on no other part"
        top = imported.split(".")[0]
        stack = next((name for name, tops in STACKS.items() if top in tops), None)
        if stack is None or stack in self.stacks_of(part):
            return None
        owners = [p for p, own in self.own_stacks.items() if stack in own]
        return f"{part} never imports {stack}, the stack of {' and '.join(owners)}"


LAYERS = Layers("loom_jupyter", USES, OWN_STACKS)
PACKAGE_DIR = Path(loom_jupyter.__file__).parent


# -- reading the modules --------------------------------------------------------------------------

def modules_of(package_dir: Path, root: str, part: str | None = None) -> dict[str, Path]:
    """Dotted name -> file, for every module under `package_dir` (or its subpackage `part`)."""
    base = package_dir / part if part else package_dir
    found = {}
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((root, *parts))] = path
    return found


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _dynamic_name(call: ast.Call, package: str) -> str | None:
    """The module an `importlib.import_module(...)` / `__import__(...)` call names, if known
    before run time: an absolute constant, or an f-string starting with {__package__}. Other
    names (variables, relative names) are left to the run-time check."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return None if arg.value.startswith(".") else arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        head = arg.values[0]
        if isinstance(head, ast.FormattedValue) and getattr(head.value, "id", "") == "__package__":
            rest = arg.values[1] if len(arg.values) > 1 else None
            tail = rest.value if isinstance(rest, ast.Constant) else ""
            return (package + str(tail)).rstrip(".")
    return None


def static_imports(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every module the source of `module` imports, wherever the import sits."""
    package = _package_of(module, path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base
        elif isinstance(node, ast.Call) and (name := _dynamic_name(node, package)):
            yield name


def static_violations(layers: Layers, package_dir: Path, part: str,
                      exceptions: Collection[tuple[str, str]] = ()) -> list[str]:
    """`module -> imported (rule)` for each import of `part` that breaks a rule."""
    known = set(modules_of(package_dir, layers.root))
    found = set()
    for module, path in modules_of(package_dir, layers.root, part).items():
        for imported in static_imports(module, path, known):
            rule = layers.why_not(part, imported)
            if rule and (module, imported) not in exceptions:
                found.add(f"{module} -> {imported} ({rule})")
    return sorted(found)


# -- importing the modules ------------------------------------------------------------------------

_PROBE = """\
import importlib, json, sys
loaded = {}
for name in json.loads(sys.argv[1]):
    before = set(sys.modules)
    importlib.import_module(name)
    loaded[name] = sorted(set(sys.modules) - before)
print(json.dumps(loaded))
"""


def import_each(modules: list[str], pythonpath: Path | None = None) -> dict[str, list[str]]:
    """In a fresh interpreter, import `modules` in order: module -> what its import newly loaded."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(modules)], env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.splitlines()[-1]))


def runtime_violations(layers: Layers, loaded: Mapping[str, list[str]], part: str,
                       exceptions: Collection[tuple[str, str]] = ()) -> list[str]:
    """`module -> loaded (rule)` for each module whose import loaded something against a rule."""
    found = []
    for module, names in loaded.items():
        for name in names:
            if not _under(name, layers.root) and "." in name:
                continue  # a stack is reported once, by its top-level package
            rule = layers.why_not(part, name, at_run_time=True)
            if rule and (module, name) not in exceptions:
                found.append(f"{module} -> {name} ({rule})")
    return sorted(found)


# -- the rules of loom_jupyter ---------------------------------------------------------------------

def test_every_package_has_rules():
    packages = {path.parent.name for path in PACKAGE_DIR.glob("*/__init__.py")}
    assert packages == set(USES) == set(OWN_STACKS), \
        "every subpackage of loom_jupyter needs its arrows (USES) and stacks (OWN_STACKS)"


@pytest.mark.parametrize("part", sorted(USES))
def test_static_imports_follow_the_architecture(part: str):
    assert modules_of(PACKAGE_DIR, LAYERS.root, part), f"no modules found for {part}"
    violations = static_violations(LAYERS, PACKAGE_DIR, part, KNOWN_EXCEPTIONS)
    assert not violations, "imports against ARCHITECTURE.md:\n" + "\n".join(violations)


@pytest.mark.parametrize("part", sorted(USES))
def test_importing_a_part_loads_nothing_against_the_architecture(part: str):
    modules = list(modules_of(PACKAGE_DIR, LAYERS.root, part))
    loaded = import_each(modules)
    assert list(loaded) == modules
    everything = {name for names in loaded.values() for name in names}
    missing = [top for top in LOADED_AT_RUN_TIME[part] if top not in everything]
    assert not missing, f"the probe did not see {part} load {missing}: it would see nothing"
    violations = runtime_violations(LAYERS, loaded, part, KNOWN_EXCEPTIONS)
    assert not violations, "imports against ARCHITECTURE.md:\n" + "\n".join(violations)


def test_known_exceptions_still_happen():
    """A fixed edge must leave KNOWN_EXCEPTIONS, or it could come back unnoticed."""
    known = set(modules_of(PACKAGE_DIR, LAYERS.root))
    paths = modules_of(PACKAGE_DIR, LAYERS.root)
    for module, imported in KNOWN_EXCEPTIONS:
        part = module.split(".")[1]
        edges = set(static_imports(module, paths[module], known))
        assert imported in edges, f"{module} no longer imports {imported}: remove the exception"
        assert LAYERS.why_not(part, imported), f"{module} -> {imported} breaks no rule any more"


# -- the checker itself, on a package made to break every kind of rule ----------------------------

FAKE_MODULES = {
    "__init__.py": "",
    "_version.py": "__version__ = '0'\n",
    "cli.py": "",
    "client/__init__.py": "import json\nfrom . import models\n",
    "client/models.py": "from .. import _version\n",
    "client/bad.py": "def later():\n    import tornado.web\n    from ..widgets import panel\n",
    "server/__init__.py": "import asyncio\nimport tornado\nfrom fakeloom import client\n",
    "server/kernel.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                        "    from IPython import get_ipython\nimport IPython.display\n",
    "local/__init__.py": "from fakeloom.client.models import *\n",
    "local/app.py": "from ..client import bad\n",
    "local/__main__.py": "from ..cli import *\n",
    "widgets/__init__.py": "import importlib\nimportlib.import_module('fakeloom.magics')\n",
    "widgets/panel.py": "import ipywidgets\n",
    "magics/__init__.py": "import importlib\n\ndef command(name):\n"
                          "    return importlib.import_module(f'{__package__}.commands.{name}')\n",
    "magics/commands/__init__.py": "from fakeloom import widgets\n",
}


@pytest.fixture(scope="module")
def fake_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layering")
    for name, source in FAKE_MODULES.items():
        path = root / "fakeloom" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


FAKE = Layers("fakeloom", USES, OWN_STACKS)


def test_static_check_reports_each_violation_as_module_imported_rule(fake_package: Path):
    found = {part: static_violations(FAKE, fake_package / "fakeloom", part) for part in USES}
    assert found == {
        "client": [
            "fakeloom.client.bad -> fakeloom.widgets.panel (client builds on no other part)",
            "fakeloom.client.bad -> tornado.web (client never imports tornado, the stack of "
            "server and local)",
        ],
        "server": [
            "fakeloom.server.kernel -> IPython (server never imports IPython, the stack of "
            "widgets and magics)",
            "fakeloom.server.kernel -> IPython.display (server never imports IPython, the stack "
            "of widgets and magics)",
        ],
        "local": [
            "fakeloom.local.__main__ -> fakeloom.cli (local builds only on client.models)",
            "fakeloom.local.app -> fakeloom.client.bad (local builds only on client.models)",
        ],
        "widgets": [
            "fakeloom.widgets -> fakeloom.magics (widgets builds only on client)",
        ],
        "magics": [],  # its own commands package, and widgets: both allowed
    }
    exceptions = {("fakeloom.local.__main__", "fakeloom.cli")}
    assert static_violations(FAKE, fake_package / "fakeloom", "local", exceptions) == [
        "fakeloom.local.app -> fakeloom.client.bad (local builds only on client.models)"]


def test_runtime_check_sees_what_imports_drag_in(fake_package: Path):
    found = {}
    for part in ("client", "server", "local", "widgets"):
        modules = list(modules_of(fake_package / "fakeloom", "fakeloom", part))
        loaded = import_each(modules, pythonpath=fake_package)
        found[part] = runtime_violations(FAKE, loaded, part)
    assert found == {
        "client": [],  # the bad imports sit in a function that never ran
        "server": ["fakeloom.server.kernel -> IPython (server never imports IPython, the stack "
                   "of widgets and magics)"],
        # client.bad is loaded too, allowed at run time: importing client.models runs client/
        "local": ["fakeloom.local.__main__ -> fakeloom.cli (local builds only on client.models)"],
        "widgets": ["fakeloom.widgets -> fakeloom.magics (widgets builds only on client)"],
    }
