"""Every error automl raises on purpose.

Each message says what was received, what was expected and how to fix it, so the CLI can print it as is
(without a traceback) and exit with status 2.
"""

from __future__ import annotations


class AutomlError(Exception):
    """Base class: a problem with the user's input or environment, reported without a traceback."""


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl+C) or SIGTERM (``kill``, systemd, Slurm's time limit, ``docker stop``) asked the command to
    stop (see :mod:`automl.signals`). A KeyboardInterrupt, so every place that stops cleanly on Ctrl+C stops
    the same way on SIGTERM; the command line exits with ``128 + signal number`` (130 and 143), as shells do."""

    def __init__(self, signal_number: int) -> None:
        import signal

        self.signal_number = int(signal_number)
        self.signal_name = signal.Signals(self.signal_number).name
        super().__init__(self.signal_name)

    @property
    def exit_status(self) -> int:
        return 128 + self.signal_number


# --- plugins -------------------------------------------------------------------------------------------
class PluginError(AutomlError):
    """A plugin could not be loaded, is invalid, or clashes with another plugin."""


class DuplicatePluginError(PluginError):
    """Two plugins of one family share a name."""


class UnknownPluginError(PluginError):
    """A name does not match any installed plugin of that family."""


class HyperparameterError(AutomlError):
    """A hyperparameter value or declaration breaks its rule (range, type, allowed choices)."""


# --- configuration -------------------------------------------------------------------------------------
class SearchSpaceError(AutomlError):
    """A search-space YAML file (or dict) is invalid; the message names the file and the key."""


class ConfigError(AutomlError):
    """A command-line or experiment option is invalid."""


# --- data (raised by the preflight, before any training) -----------------------------------------------
class DataError(AutomlError):
    """The data cannot be used for a search."""


class DataNotFoundError(DataError):
    """The data path does not exist or the builtin name is unknown."""


class NoImagesError(DataError):
    """An image folder holds no image files."""


class EmptyClassFolderError(DataError):
    """A class sub-folder of an image folder holds no image files."""


class SingleClassError(DataError):
    """The data has only one class; classification needs at least two."""


class CorruptImageError(DataError):
    """Image files could not be decoded (the message lists them)."""


class ImageCacheError(DataError):
    """The decoded-image cache cannot be written (no space, no permission); the message names its folder."""


class TargetColumnError(DataError):
    """The CSV target column is missing, or holds missing values."""


class FeatureColumnError(DataError):
    """CSV feature columns hold values that cannot be used (the message lists them)."""


class TooFewSamplesError(DataError):
    """Some class has too few samples for the requested train/validation/test split."""


class ArrayFormatError(DataError):
    """An .npz file lacks the arrays `x` and `y`, or their shapes do not match."""


# --- runs and models -----------------------------------------------------------------------------------
class RunDirectoryError(AutomlError):
    """A run directory is missing, incomplete, or belongs to a different experiment."""


class NoFinishedTrialsError(RunDirectoryError):
    """A run has no finished (complete or pruned) trial yet, so there is nothing to report."""


class StorageError(AutomlError):
    """The study storage (a Journal file or a database URL) cannot be opened; passwords are never shown."""


class StorageRepairedWarning(UserWarning):
    """A Journal file left unreadable by a torn write was repaired; the message says what was kept and dropped."""


class ExportError(AutomlError):
    """An export format failed or its verification did not match the Keras model."""


class ModelReloadError(AutomlError):
    """A trained model does not survive saving and loading back in Keras' safe mode; the trial that made it fails."""


class UnsafeModelError(AutomlError):
    """A model file needs unsafe deserialization (for example a Lambda layer) and was refused."""
