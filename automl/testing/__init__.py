"""Testing kit for plugin authors: contract suites to subclass in your own pytest files.

See :mod:`automl.testing.contract` and ``docs/plugins.md``. Install with ``pip install "automl[testing]"``
(it brings pytest, and the pytest plugin :mod:`automl.testing.pytest_plugin` is then active). The suites are
loaded on first use, so that :mod:`automl.testing.photos` (test images) imports without pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["ArchitectureContract", "AugmentationContract", "LoggerContract", "OptimizerContract", "PluginContract"]

if TYPE_CHECKING:
    from automl.testing.contract import (
        ArchitectureContract,
        AugmentationContract,
        LoggerContract,
        OptimizerContract,
        PluginContract,
    )


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        import pytest
    except ImportError:
        raise ImportError(f"automl.testing.{name} runs under pytest, which is not installed here: "
                          'pip install "automl[testing]"') from None

    # Before the first import of the suites, so pytest rewrites their asserts into readable failures.
    pytest.register_assert_rewrite("automl.testing.contract")
    from automl.testing import contract

    globals().update({n: getattr(contract, n) for n in __all__})
    return globals()[name]
