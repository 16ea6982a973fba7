"""Meta-test: every hook specification is documented and exercised by at least one other test file.

A new ``automl_*`` hook added to :mod:`automl.hookspecs` without a test that names it fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from automl import hookspecs

TESTS = Path(__file__).resolve().parent
SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"  # the attribute pluggy's HookspecMarker sets


def hookspec_functions() -> dict[str, object]:
    return {name: func for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
            if name.startswith("automl_") and hasattr(func, SPEC_MARKER)}


def other_test_texts() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in sorted(TESTS.rglob("*.py"))
            if path.resolve() != Path(__file__).resolve()}


SPECS = hookspec_functions()


def test_hookspecs_are_found():
    # guards the enumeration itself: the three registration hooks are there, found through pluggy's marker
    assert {"automl_register_architectures", "automl_register_augmentations",
            "automl_register_optimizers"} <= set(SPECS)
    # every automl_* function in the module is a real hookspec (no undecorated look-alike)
    undecorated = [name for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
                   if name.startswith("automl_") and name not in SPECS]
    assert undecorated == []


def test_hookspecs_are_known_to_pluggy():
    import pluggy

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    assert set(SPECS) <= {name for name in dir(pm.hook) if name.startswith("automl_")}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hookspec_has_a_docstring(name):
    doc = inspect.getdoc(SPECS[name])
    assert doc and len(doc.split()) >= 5, f"hookspec {name} needs a docstring saying what to return"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hookspec_is_used_by_another_test_file(name):
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    users = [path.name for path, text in other_test_texts().items() if pattern.search(text)]
    assert users, (
        f"hook {name} is not named in any test file under {TESTS} (besides {Path(__file__).name}); "
        "add a test with a plugin implementing it")
