"""The layers of ``editor`` import only downwards: core <- domain <- realtime and web.

Every import statement of a module is read from its source (functions included, so a
lazy import cannot hide), resolved to an absolute name and checked against what its
layer may use.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

EDITOR = Path(__file__).resolve().parent.parent / "editor"
TRANSPORT = ("channels", "daphne", "twisted", "asgiref", "autobahn", "websockets", "redis", "channels_redis")


def modules(*packages: str) -> list[Path]:
    found = []
    for package in packages:
        path = EDITOR / package
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(EDITOR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str | None = None) -> set[str]:
    """The absolute names of every module ``path`` (the module ``name``) imports,
    wherever in the file."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""  # ``from . import x`` has no module only when relative
            names.add(module)
            # ``from . import x`` may import the submodule x.
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_text_core_imports_only_the_standard_library_and_itself():
    for path in modules("core"):
        for name in imported(path):
            top = name.split(".")[0]
            assert top == "__future__" or top in sys.stdlib_module_names or within(name, "editor.core"), (
                f"{module_name(path)} imports {name}"
            )


@pytest.mark.parametrize("path", modules("domain", "models"), ids=module_name)
def test_the_domain_never_imports_the_transport_or_the_layers_above_it(path):
    for name in imported(path):
        assert not within(name, *TRANSPORT), f"{module_name(path)} imports {name}"
        assert not within(name, "editor.realtime", "editor.web", "editor.client", "editor.admin"), (
            f"{module_name(path)} imports {name}"
        )


def test_the_python_client_needs_no_django_and_no_server_module():
    for path in modules("client"):
        for name in imported(path):
            assert not within(name, "django", "channels", "daphne"), f"{module_name(path)} imports {name}"
            if within(name, "editor"):
                assert within(name, "editor.client", "editor.core"), f"{module_name(path)} imports {name}"


def test_the_real_time_layer_does_not_reach_into_the_web_pages():
    for path in modules("realtime"):
        for name in imported(path):
            assert not within(name, "editor.web", "editor.admin"), f"{module_name(path)} imports {name}"


def test_the_check_sees_an_import_hidden_in_a_function(tmp_path):
    """The walk finds lazy imports, the way the domain once reached the hub."""
    hidden = tmp_path / "probe.py"
    hidden.write_text("def later():\n    from ..realtime import fanout\n    import channels.layers\n")
    assert {"editor.realtime.fanout", "channels.layers"} <= imported(hidden, "editor.domain.probe")


def test_every_module_of_the_editor_belongs_to_a_layer():
    """A new module lands in one of the layers (or is one of Django's own places)."""
    django_places = {"admin.py", "apps.py", "models.py", "__init__.py"}
    for path in EDITOR.glob("*.py"):
        assert path.name in django_places, f"editor/{path.name} belongs in a layer's package"


def test_the_type_checker_reads_every_python_package_of_the_tree():
    """mypy (scripts/lint.sh) checks the tests and the benchmarks too, not only the application."""
    root = EDITOR.parent
    checked = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mypy"]["files"])
    packages = {path.parent.name for path in root.glob("*/__init__.py")}
    assert {"editor", "collab", "tests", "bench"} <= packages
    assert sorted(packages - checked) == []
