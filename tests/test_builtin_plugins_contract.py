"""Every built-in plugin passes the same contract suite a third-party author runs (automl.testing)."""

import pytest

from automl.plugin_manager import build_registry
from automl.testing import ArchitectureContract, AugmentationContract, OptimizerContract

REGISTRY = build_registry(autoload=False)
SUITES = {"architecture": ArchitectureContract, "augmentation": AugmentationContract, "optimizer": OptimizerContract}
# Training an ImageNet-sized backbone through the suite takes about two minutes on two CPU cores.
SLOW = {("architecture", "transfer")}


def _suite(family, name):
    entry = REGISTRY.get(family, name)
    marks = [pytest.mark.slow] if (family, name) in SLOW else []
    return type(f"Test{family.title()}{name.title()}", (SUITES[family],), {"plugin": entry.plugin,
                                                                          "pytestmark": marks})


# One test class per built-in, generated so a new built-in is covered without editing this file.
for _family in SUITES:
    for _name in REGISTRY.names(_family):
        _cls = _suite(_family, _name)
        globals()[_cls.__name__] = _cls


def test_every_builtin_is_covered():
    covered = {(c.plugin.family, c.plugin.name) for c in globals().values()
               if isinstance(c, type) and c.__name__.startswith("Test") and hasattr(c, "plugin")}
    assert covered == {(e.family, e.name) for e in REGISTRY.all_entries()}
    assert len(covered) >= 4 + 6 + 5
