"""deploy/check_import_cycles.py on tiny synthetic packages: it finds a circle, a circle held by an import
inside a function, a circle through a package's __init__ and one across packages; an acyclic package
(whose __init__ re-exports its submodules) passes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "deploy" / "check_import_cycles.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_import_cycles", CHECKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _run(root: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(CHECKER), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_circle_is_found_and_printed_as_a_chain(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "from pkg import c\n",
            "pkg/c.py": "import pkg.a\n",
            "pkg/d.py": "from pkg import a\n",  # imports into the circle, not part of it
        },
    )
    status, out = _run(tmp_path, "pkg")
    assert status == 1, out
    assert "import circle: pkg.a -> pkg.b -> pkg.c -> pkg.a" in out
    assert "pkg.c:1: import pkg.a" in out
    assert "pkg.d" not in out
    assert "1 import circle(s) in 1 group(s)" in out


def test_a_circle_held_by_an_import_inside_a_function_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/services.py": "from pkg import tasks\n\n\ndef charge():\n    return tasks.run()\n",
            "pkg/tasks.py": "def run():\n    from pkg import services\n\n    return services\n",
        },
    )
    status, out = _run(tmp_path, "pkg")
    assert status == 1, out
    assert "import circle: pkg.services -> pkg.tasks -> pkg.services" in out
    assert "pkg.tasks:2: from pkg import services" in out


def test_a_circle_under_type_checking_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.a import Thing\n",
        },
    )
    status, out = _run(tmp_path, "pkg")
    assert status == 1, out
    assert "import circle: pkg.a -> pkg.b -> pkg.a" in out


def test_a_submodule_importing_a_sibling_through_the_package_init_is_a_circle(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import f\nfrom pkg.b import g\n",
            "pkg/a.py": "def f():\n    return 1\n",
            "pkg/b.py": "from pkg import f\n\n\ndef g():\n    return f()\n",
        },
    )
    status, out = _run(tmp_path, "pkg")
    assert status == 1, out
    assert "import circle: pkg -> pkg.b -> pkg" in out


def test_a_circle_across_packages_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/models.py": "def later():\n    from high import views\n\n    return views\n",
            "high/__init__.py": "",
            "high/views.py": "from low import models\n",
        },
    )
    status, out = _run(tmp_path, "low", "high")
    assert status == 1, out
    assert "import circle: high.views -> low.models -> high.views" in out


def test_an_acyclic_package_passes_and_its_init_may_re_export_its_submodules(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import f\nfrom pkg.b import g\n",
            "pkg/a.py": "from pkg import c\n\n\ndef f():\n    return c.h()\n",
            "pkg/b.py": "import pkg.a\n\n\ndef g():\n    from pkg import c\n\n    return pkg.a.f() + c.h()\n",
            "pkg/c.py": "def h():\n    return 1\n",
        },
    )
    status, out = _run(tmp_path, "pkg")
    assert status == 0, out
    assert "no import circles among the 4 modules of pkg" in out


def test_warn_prints_the_circles_but_passes(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "from pkg import a\n"})
    status, out = _run(tmp_path, "pkg", "--warn")
    assert status == 0
    assert "import circle: pkg.a -> pkg.b -> pkg.a" in out


def test_every_import_on_a_circle_is_shown_and_each_circle_once():
    checker = _checker()
    edges = {
        "a": {"b", "c"},
        "b": {"a"},
        "c": {"d"},
        "d": {"a", "e"},
        "e": set(),
        "x": {"y"},
        "y": {"x"},
    }
    found = checker.circles(edges)
    assert found == [["a", "b", "a"], ["a", "c", "d", "a"], ["x", "y", "x"]]
    assert checker.strongly_connected(edges) == [["a", "b", "c", "d"], ["x", "y"]]


def test_the_checker_covers_the_packages_import_linter_knows():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert sorted(_checker().PACKAGES) == sorted(config["tool"]["importlinter"]["root_packages"])
