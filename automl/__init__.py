"""automl: plugin-based AutoML search for Keras.

Importing this package is cheap: TensorFlow is imported only when a search or export actually runs.
"""

from automl.hookspecs import hookimpl
from automl.plugin import Architecture, Augmentation, BuildContext, Logger, Optimizer

__version__ = "0.1.0"

__all__ = ["Architecture", "Augmentation", "BuildContext", "Logger", "Optimizer", "__version__", "hookimpl", "search"]


def search(*args, **kwargs):
    """Run a search; see :func:`automl.search_engine.search` for the arguments."""
    from automl.search_engine import search as _search

    return _search(*args, **kwargs)
