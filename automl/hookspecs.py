"""Hook specifications: the only way plugins — built-in or third-party — extend automl.

A plugin is a module (or object) with functions decorated by :data:`automl.hookimpl` and named like the
specs below. Third-party packages expose it through an entry point in the group ``automl``::

    [project.entry-points.automl]
    efficientnet = "automl_efficientnet"

or a single ``.py`` file is dropped into a folder passed with ``--plugins-dir``. Later families (search
backends, exporters, data loaders, trial lifecycle events) get their own ``automl_*`` hooks here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from automl.plugin import Architecture, Augmentation, Optimizer

PROJECT_NAME = "automl"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def automl_register_architectures() -> list[Architecture]:
    """Return the architecture plugins this plugin provides.

    Called once when the plugin manager is built. Each item is an :class:`automl.plugin.Architecture`
    instance whose ``name`` is unique among all installed architectures.
    """


@hookspec
def automl_register_augmentations() -> list[Augmentation]:
    """Return the augmentation plugins this plugin provides.

    Called once when the plugin manager is built. Each item is an :class:`automl.plugin.Augmentation`
    instance whose ``name`` is unique among all installed augmentations.
    """


@hookspec
def automl_register_optimizers() -> list[Optimizer]:
    """Return the optimizer plugins this plugin provides.

    Called once when the plugin manager is built. Each item is an :class:`automl.plugin.Optimizer`
    instance whose ``name`` is unique among all installed optimizers.
    """
