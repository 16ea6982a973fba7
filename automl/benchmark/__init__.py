"""``automl benchmark``: measured comparisons through the real trainer and the real search engine.

**optimizers** — every installed optimizer plugin (or those named) × seeds on fixed architectures with their
plugins' default hyperparameters. Each (architecture, optimizer, seed) *cell* is one
:func:`automl.trainer.train_candidate` call; its result is written to ``OUT/cells/`` the moment it finishes,
so re-running the same command continues where it stopped and never trains a finished cell again. Then:
a table per architecture (mean ± std, median, rank, p-value against the best), learning-curve and score
plots, ``report.md`` / ``report.html``, ``results.json`` and ``results.csv``.

**samplers** — the same short search (data, space, trial count or time budget, seed) run with each sampler
(Optuna TPE / random / CMA-ES, KerasTuner Hyperband / Bayesian) through :func:`automl.search_engine.search`;
the best-so-far validation objective is recorded against wall time as each trial finishes.

The package's modules: ``common`` (the output folder's protocol, checks, display), ``optimizers``,
``samplers`` and ``document`` (the tables, plots and report pages both write).
"""

from automl.benchmark.common import parse_lr_grid, parse_names
from automl.benchmark.optimizers import OptimizerBenchmark, OptimizerOutcome, run_optimizer_benchmark
from automl.benchmark.samplers import SamplerBenchmark, SamplerOutcome, parse_sampler, run_sampler_benchmark

__all__ = ["OptimizerBenchmark", "OptimizerOutcome", "SamplerBenchmark", "SamplerOutcome", "parse_lr_grid", "parse_names",
           "parse_sampler", "run_optimizer_benchmark", "run_sampler_benchmark"]
