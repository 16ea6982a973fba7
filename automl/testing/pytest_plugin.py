"""automl's pytest plugin (entry point ``pytest11``), active wherever automl and pytest are installed together
(``pip install "automl[testing]"``).

* The contract suites' asserts are rewritten by pytest, so a failure shows the values compared.
* Fixture ``automl_registry``: the plugins of this environment as ``automl search`` loads them (built-ins,
  entry points, ``$AUTOML_PLUGINS_DIR``), to check that a package's entry point registers its plugin.

Importing this module imports neither TensorFlow nor Keras: pytest loads it in every session.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("automl.testing.contract")


@pytest.fixture
def automl_registry():
    """The :class:`automl.plugin_manager.Registry` of this environment, entry points included (whatever
    ``AUTOML_DISABLE_PLUGIN_AUTOLOAD`` says); load problems are in its ``problems``."""
    from automl.plugin_manager import build_registry

    return build_registry(autoload=True)
