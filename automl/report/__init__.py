"""``automl report``: PNG plots and an HTML page of a run, built from its trial records (either backend).

``RUN/report/`` (or ``--out``) receives::

    optimization_history.png   the objective of every trial and the best so far; pruned and failed marked
    param_importance.png       how much each hyperparameter explains the objective (Optuna's fANOVA)
    parallel_coordinates.png   every complete trial as one line through its hyperparameters and objective
    learning_curves.png        train / validation loss and accuracy per epoch of the top trials
    report.html                the run's summary, the plots and the leaderboard

The page refers to the PNGs beside it by their relative names instead of embedding them as base64: the
PNGs are wanted as files anyway, so the page stays small and diffable and the folder moves (or zips) as a
whole. Every file is written atomically, report.html last, so it never refers to a plot that is missing.

The records are read from the run's storage, so a report of a running search shows the trials finished
so far. Plots are drawn on matplotlib ``Figure`` objects with the Agg canvas, never through pyplot, so
neither a GUI nor the caller's matplotlib backend is touched.

The package's modules: ``reading`` (the records and the study's distributions), ``importance`` (fANOVA),
``plots`` (the figures) and ``page`` (the HTML page, built with :mod:`automl.html_page` like the
benchmark reports, and :func:`write_report`).
"""

from automl.report.importance import Importance, infer_distribution, param_distributions, param_importances
from automl.report.page import DEFAULT_TOP, HTML_FILE, PLOTS, Report, leaderboard_html, write_report
from automl.report.plots import (
    plot_learning_curves,
    plot_optimization_history,
    plot_parallel_coordinates,
    plot_param_importance,
    png_bytes,
)
from automl.report.reading import flat_params

__all__ = [
    "DEFAULT_TOP", "HTML_FILE", "PLOTS", "Importance", "Report", "flat_params", "infer_distribution", "leaderboard_html",
    "param_distributions", "param_importances", "plot_learning_curves", "plot_optimization_history",
    "plot_parallel_coordinates", "plot_param_importance", "png_bytes", "write_report",
]
