"""What a search returns and what `load_run` reads back: the leaderboard, the best model, predict and export."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl import leaderboard
from automl.run_dir import RunDirectory, read_config, read_test_metrics

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from automl.data import Dataset


@dataclass
class SearchResult:
    """What a search returns, and what :func:`load_run` gives back for an existing run directory.

    ``leaderboard_`` (a DataFrame, best first), ``best_model_`` (the exported Keras model of ``best/``, loaded on
    first access), ``best_trial_``, ``class_names_`` (empty for regression); ``predict(x)`` (class names, or a
    regression's values) / ``predict_proba(x)`` on arrays,
    DataFrames or files, read as the training data were; ``export(...)`` and ``report(...)`` as the commands.
    """

    run_dir: Path
    leaderboard_: pd.DataFrame
    dataset: Dataset | None = field(default=None, repr=False)
    stopped_because: str = ""
    _best_model: keras.Model | None = field(default=None, repr=False)
    _predictor: Any = field(default=None, repr=False)

    @property
    def best_trial_(self) -> int | None:
        if "rank" not in self.leaderboard_:
            return None
        ranked = self.leaderboard_[self.leaderboard_["rank"] == 1]
        return None if len(ranked) == 0 else int(ranked["trial"].iloc[0])

    @property
    def best_model_(self) -> keras.Model | None:
        model = RunDirectory(self.run_dir).best / "model.keras"
        if self._best_model is None and model.exists():
            from automl.export import load_keras_model

            self._best_model = load_keras_model(model)
        return self._best_model

    @property
    def class_names_(self) -> list[str]:
        return self._best().class_names

    def predict_proba(self, x: Any):
        """Class probabilities, shape (N, classes), columns in ``class_names_`` order. ``x``: an array shaped
        like the training inputs, a DataFrame with the training columns, or image / CSV / .npz paths."""
        return self._best().predict_proba(x)

    def predict(self, x: Any):
        """The most likely class name of each input (an array of text) — for a regression run, the predicted values
        (float32, shape (N,), in the target's units); ``x`` as for `predict_proba`."""
        import numpy as np

        if self._best().is_regression:
            return self._best().predict_values(x)
        names = np.asarray(self.class_names_)
        return names[np.argmax(self.predict_proba(x), axis=1)]

    def export(self, formats: str | list[str] | None = None, out: str | Path | None = None, **options: Any) -> Path:
        """Export the best model (or ``trial=N``, ``ensemble=K``, ``refit=True``) as ``automl export`` does;
        every format is verified. Returns the export folder."""
        from automl.export import export_run

        if isinstance(formats, (list, tuple)):
            formats = ",".join(formats)
        folder, _ = export_run(self.run_dir, formats=formats, out=Path(out) if out else None, **options)
        self._predictor = None  # best/ may have been written again
        return folder

    def report(self, out: str | Path | None = None, top: int = 5):
        """Write the plots and report.html of the run (``automl report``); returns what was written."""
        from automl.report import write_report

        return write_report(self.run_dir, out_dir=Path(out) if out else None, top=top)

    def _best(self):
        if self._predictor is None:
            from automl.predict import load_predictor

            self._predictor = load_predictor(self.run_dir)
        return self._predictor

    def __repr__(self) -> str:
        best = self.best_trial_
        return (f"SearchResult({self.run_dir}: {len(self.leaderboard_)} trials, best trial "
                f"{'none' if best is None else best}{', ' + self.stopped_because if self.stopped_because else ''})")


def load_run(run_dir: str | Path) -> SearchResult:
    """Read a run directory (finished or still running) back into a :class:`SearchResult`."""
    from automl.backends import read_records
    from automl.objectives import run_objective, run_trade_off

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    objective, direction = run_objective(config)
    frame = leaderboard.build(read_records(config, run_dir), direction,
                              read_test_metrics(run_dir), objective, trade_off=run_trade_off(config))
    return SearchResult(run_dir, frame)
