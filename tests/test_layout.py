"""The project's shape: layers import only downward, one ARN type, one name per class, short functions."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each package and the packages it may import (besides the standard library and third parties).
LAYERS = {
    "core": {"core"},
    "config": {"core", "config"},
    "facts": {"core", "facts"},
    "components": {"core", "config", "facts", "components"},
    "drift": {"core", "config", "facts", "drift"},
}
OURS = {"core", "config", "facts", "components", "drift", "offline", "standins", "tests", "bench", "provider"}
# The policy pack is a package of its own (policy_pack/requirements.txt): it cannot import the program.
SEPARATE = ("policy_pack/",)
MAX_FUNCTION_LINES = 60


def sources(include_tests: bool = False) -> list[Path]:
    names = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = [ROOT / n for n in names.split() if (ROOT / n).exists()]
    return [f for f in files if include_tests or not f.relative_to(ROOT).as_posix().startswith("tests/")]


def imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found & OURS


def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = []
    for path in sources():
        package = path.relative_to(ROOT).parts[0]
        if package in LAYERS:
            wrong += [f"{path.relative_to(ROOT)} imports {m}" for m in sorted(imported(path) - LAYERS[package])]
    assert wrong == []


def test_nothing_outside_the_tests_imports_the_tests() -> None:
    assert [str(p.relative_to(ROOT)) for p in sources() if "tests" in imported(p)] == []


def test_no_arn_is_cut_by_hand_outside_core_arns() -> None:
    # An ARN's fields by position (`.split(":")[4]`), its key id after ":key/", its name after the last "/".
    cut = re.compile(r"""split\(\s*["']:["']\s*\)|split\(\s*["']:key/["']|rsplit\(\s*["']/["']\s*,\s*1\)""")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in sources() for i, line in enumerate(p.read_text().splitlines(), 1)
            if cut.search(line) and p.relative_to(ROOT).as_posix() != "core/arns.py"
            and not p.relative_to(ROOT).as_posix().startswith(SEPARATE)]
    assert hits == []


def test_no_class_name_is_defined_twice() -> None:
    seen: dict[str, list[str]] = {}
    for path in sources(include_tests=True):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                seen.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}


def test_no_program_function_is_longer_than_a_reader_can_hold() -> None:
    long = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_every_test_module_is_in_the_map() -> None:
    table = (ROOT / "tests" / "README.md").read_text()
    modules = [p for p in sources(include_tests=True) if p.name.startswith("test_")]
    assert [str(p.relative_to(ROOT / "tests")) for p in modules if str(p.relative_to(ROOT / "tests")) not in table] == []
