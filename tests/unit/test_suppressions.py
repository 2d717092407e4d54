"""No suppression comment for a rule that is not enabled: every ``# noqa: CODE`` (and file-wide
``# ruff: noqa: CODE``) in the product, the tests and the benches names a rule that ruff's
configuration in pyproject.toml selects for that file. A ``noqa`` for a rule ruff does not run
suppresses nothing and misleads the reader (``# type: ignore[...]`` is fine: mypy runs)."""

from __future__ import annotations

import fnmatch
import io
import re
import tokenize
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = frozenset({"build", "dist", "node_modules", "__pycache__"})
NOQA = re.compile(r"#\s*(?:ruff\s*:\s*)?noqa\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*)")


def ruff_lint_config(pyproject: Path = REPO / "pyproject.toml") -> dict[str, Any]:
    """``[tool.ruff.lint]`` (older top-level ``[tool.ruff]`` keys included)."""
    ruff: dict[str, Any] = tomllib.loads(pyproject.read_text())["tool"]["ruff"]
    top = {k: v for k, v in ruff.items() if k != "lint"}
    lint: dict[str, Any] = ruff.get("lint", {})
    return top | lint


def _longest(selectors: list[str], code: str) -> int:
    """Length of the most specific selector matching ``code`` (-1: none)."""
    best = -1
    for s in selectors:
        if s == "ALL":
            best = max(best, 0)
        elif code.startswith(s):
            best = max(best, len(s))
    return best


def enabled(code: str, config: Mapping[str, Any], path: str) -> bool:
    """Whether ruff runs rule ``code`` on ``path`` (relative, with ``/``): the most specific
    of ``select`` / ``extend-select`` against ``ignore`` / ``extend-ignore`` and the file's
    ``per-file-ignores`` (a tie goes to the ignore, as in ruff)."""
    select = list(config.get("select", ["E4", "E7", "E9", "F"]))
    select += config.get("extend-select", [])
    ignore = list(config.get("ignore", [])) + list(config.get("extend-ignore", []))
    per_file = dict(config.get("per-file-ignores", {}))
    per_file |= config.get("extend-per-file-ignores", {})
    for pattern, codes in per_file.items():
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(Path(path).name, pattern):
            ignore += codes
    chosen = _longest(select, code)
    return chosen >= 0 and chosen > _longest(ignore, code)


def python_files(root: Path = REPO, excluded: tuple[str, ...] = ()) -> Iterator[Path]:
    """The repository's Python files (no hidden folders, build output or what ruff's
    ``exclude`` / ``extend-exclude`` leave out)."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if any(p.startswith(".") or p in SKIP_DIRS or p.endswith(".egg-info") for p in parts):
            continue
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatch(rel, e) or e in parts for e in excluded):
            continue
        yield path


def suppressions(source: str) -> Iterator[tuple[int, str]]:
    """``(line, code)`` of every rule a comment suppresses (comments only, not strings)."""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            for match in NOQA.finditer(tok.string):
                for code in re.split(r"[\s,]+", match.group("codes").strip()):
                    yield tok.start[0], code


def dead_suppressions(config: Mapping[str, Any], root: Path = REPO) -> list[str]:
    """``path:line: CODE`` for every suppression of a rule ruff does not run there."""
    found = []
    excluded = tuple(config.get("exclude", ())) + tuple(config.get("extend-exclude", ()))
    for path in python_files(root, excluded):
        rel = path.relative_to(root).as_posix()
        for line, code in suppressions(path.read_text(encoding="utf-8")):
            if not enabled(code, config, rel):
                found.append(f"{rel}:{line}: {code}")
    return found


def test_the_rule_resolution_follows_ruff() -> None:
    config = {
        "select": ["E", "F", "B", "PLR09"],
        "ignore": ["B008", "E5"],
        "per-file-ignores": {"tests/*": ["F401"]},
    }
    assert enabled("E402", config, "engine/x.py") and enabled("B006", config, "x.py")
    assert not enabled("B008", config, "x.py") and not enabled("E501", config, "x.py")
    assert not enabled("PLC0415", config, "router/x.py") and enabled("PLR0913", config, "x.py")
    assert enabled("F401", config, "engine/x.py") and not enabled("F401", config, "tests/t.py")
    assert enabled("SIM110", {"select": ["ALL"]}, "x.py")
    assert enabled("F401", {}, "x.py") and not enabled("B006", {}, "x.py")  # ruff's defaults


def test_comments_are_read_not_strings() -> None:
    source = (
        "import os  # noqa: F401\n"
        "x = '# noqa: PLC0415'\n"
        "# ruff: noqa: E402, SIM115\n"
        "y = 1  # type: ignore[misc]  # noqa:E741 PLW0603\n"
    )
    assert list(suppressions(source)) == [
        (1, "F401"),
        (3, "E402"),
        (3, "SIM115"),
        (4, "E741"),
        (4, "PLW0603"),
    ]


def test_the_scan_finds_a_dead_suppression(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("import os  # noqa: F401\nimport a  # noqa: PLC0415\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "v.py").write_text("import b  # noqa: XYZ1\n")
    (tmp_path / "vendored").mkdir()
    (tmp_path / "vendored" / "w.py").write_text("import c  # noqa: XYZ1\n")
    config = {"select": ["F"], "extend-exclude": ["vendored"]}
    assert dead_suppressions(config, tmp_path) == ["pkg/m.py:2: PLC0415"]


def test_no_suppression_comment_for_a_rule_that_is_not_enabled() -> None:
    config = ruff_lint_config()
    assert config["select"], "pyproject.toml selects ruff rules"
    found = dead_suppressions(config)
    assert found == [], (
        "these comments suppress rules ruff does not run (remove them, or select the rule "
        "in pyproject.toml and keep only the justified ones):\n" + "\n".join(found)
    )
