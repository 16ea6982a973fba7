"""Testing kit for plugin authors: contract suites to subclass in your own pytest files.

See :mod:`automl.testing.contract` and the README section "Writing a plugin".
"""

import pytest

pytest.register_assert_rewrite("automl.testing.contract")

from automl.testing.contract import (  # noqa: E402
    ArchitectureContract,
    AugmentationContract,
    OptimizerContract,
    PluginContract,
)

__all__ = ["ArchitectureContract", "AugmentationContract", "OptimizerContract", "PluginContract"]
