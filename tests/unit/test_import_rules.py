"""The package's folders import only the folders below them (CONTRIBUTING.md, "Folders and what each may
import"), so there is no import cycle between folders. Read from the source with ``ast``: no Airflow needed."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "airflow_evolink"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

#: What each folder (or top-level module) may import from the package, besides itself. Keep in step with
#: CONTRIBUTING.md. ``compat`` and ``version_compat`` are one module (the first re-exports the second).
_COMPAT = {"version_compat", "compat"}
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "version_compat": set(),
    "compat": {"version_compat"},
    "get_provider_info": {"__init__", "version_compat"},
    # The command line that prices a request (python -m airflow_evolink.estimate).
    "estimate": {"core", "pricing", "hooks", *_COMPAT},
    "core": set(),
    "emulator": set(),
    "pricing": {"core"},
    "lineage": {"core", *_COMPAT},
    "storage": {"core", "lineage", *_COMPAT},
    "hooks": {"core", "pricing", "get_provider_info", *_COMPAT},
    "inputs": {"core", "hooks", "storage", *_COMPAT},
    "triggers": {"core", "hooks", *_COMPAT},
    "links": {*_COMPAT},
    "utils": {"core", "pricing", "hooks", "links", "storage", "lineage", *_COMPAT},
    "operators": {
        "core",
        "pricing",
        "hooks",
        "inputs",
        "lineage",
        "links",
        "storage",
        "triggers",
        "utils",
        *_COMPAT,
    },
    "sensors": {"core", "pricing", "hooks", "links", "storage", "triggers", "utils", *_COMPAT},
    # The gallery runs in the api-server: never the task-side code (operators, sensors, triggers).
    "plugins": {
        "core",
        "pricing",
        "hooks",
        "links",
        "storage",
        "lineage",
        "utils",
        "get_provider_info",
        *_COMPAT,
    },
}


def part_of(module: str) -> str | None:
    """The folder (or top-level module) of ``airflow_evolink.<part>...``; ``None`` outside the package."""
    pieces = module.split(".")
    if pieces[0] != PACKAGE:
        return None
    # ``airflow_evolink.__version__`` is a name in the package's __init__, not a module.
    return pieces[1] if len(pieces) > 1 and not pieces[1].startswith("__") else "__init__"


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """What ``path`` (the module ``module``) imports: at the top, in functions, under TYPE_CHECKING."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from airflow_evolink import hooks`` imports the folder named, not the package's __init__.
            names = [f"{base}.{a.name}" for a in node.names] if base == PACKAGE else [base]
            found += [(node.lineno, name) for name in names]
    return found


def forbidden_imports(root: Path = ROOT) -> list[str]:
    """Each import of the package under ``root`` that its folder may not make, as ``file:line: why``."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = part_of(module)
        where = path.relative_to(root.parent)
        if source not in ALLOWED:
            problems.append(f"{where}: {source!r} is not in ALLOWED (add it, and to CONTRIBUTING.md)")
            continue
        for line, imported in imported_modules(path, module):
            target = part_of(imported)
            if target is not None and target != source and target not in ALLOWED[source]:
                problems.append(f"{where}:{line}: {source} may not import {target} ({imported})")
    return problems


def test_folders_import_only_what_they_may() -> None:
    assert forbidden_imports() == []


def test_allowed_imports_have_no_cycle() -> None:
    """The table itself is layered: following "may import" never leads back to where it started."""
    done: set[str] = set()

    def visit(part: str, path: tuple[str, ...]) -> None:
        assert part not in path, f"cycle in ALLOWED: {' -> '.join((*path, part))}"
        if part not in done:
            for target in ALLOWED[part]:
                visit(target, (*path, part))
            done.add(part)

    for part in ALLOWED:
        visit(part, ())


def test_a_forbidden_import_is_reported(tmp_path: Path) -> None:
    """The checker on a small tree: an upward import (also a relative one) is named; a lawful one is not."""
    package = tmp_path / PACKAGE
    for folder in ("core", "sensors", "operators"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "a.py").write_text("import json\n")
    (package / "sensors" / "s.py").write_text(
        "from airflow_evolink.core import a\n\n\ndef f():\n    from ..operators import o\n"
    )
    (package / "operators" / "o.py").write_text("from airflow_evolink.core.a import json\n")
    assert forbidden_imports(package) == [
        f"{PACKAGE}/sensors/s.py:5: sensors may not import operators ({PACKAGE}.operators)"
    ]
