"""The local server's own layers: HTTP (base, handlers) over domain over store (SQL only there)."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import loom_jupyter.local

LOCAL = Path(loom_jupyter.local.__file__).parent
_SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                  r"CREATE\s+(TABLE|INDEX))\b", re.IGNORECASE | re.DOTALL)


def _is_store(path: Path) -> bool:
    return path.parent == LOCAL and (path.stem == "store" or path.stem.startswith("store_"))


def _text(node: ast.AST) -> str | None:
    """A string constant, or an f-string with `{}` for its fields."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _sql_strings(path: Path) -> list[int]:
    """Line numbers of the strings that read as SQL."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return sorted({node.lineno for node in ast.walk(tree)
                   if (text := _text(node)) is not None and _SQL.search(text)})


def test_sql_is_written_only_in_the_store_modules():
    outside = {str(p.relative_to(LOCAL)): lines for p in sorted(LOCAL.rglob("*.py"))
               if not _is_store(p) and (lines := _sql_strings(p))}
    assert outside == {}
    assert _sql_strings(LOCAL / "store_threads.py"), "the check must see SQL where it is"


def test_the_domain_imports_no_http_layer():
    """Everything `LocalState` holds (auth, orgs, threads, weavers, llm) loads without tornado."""
    code = ("import sys, loom_jupyter.local.state\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'tornado'"
            " or m in ('loom_jupyter.local.base', 'loom_jupyter.local.handlers'))\n"
            "print(','.join(bad))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
