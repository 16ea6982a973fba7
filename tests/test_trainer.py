"""What a trial's row says about how its training ended (automl.trainer), on real digits."""

from __future__ import annotations

import re

from automl.data import load_dataset
from automl.hp import FixedDriver
from automl.plugin_manager import build_registry
from automl.search_space import SearchSpace
from automl.trainer import COMPLETE, train_candidate


def test_a_trial_ended_by_early_stopping_says_so_and_where_its_best_epoch_was():
    # Without it a row that stopped on a plateau reads like one that ran its epochs.
    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict({"architectures": {"mlp": {"layers": 1, "units": 32, "dropout": 0.0}},
                                   "augmentations": ["none"],
                                   "optimizers": {"adam": {"learning_rate": 0.01, "schedule": "constant"}},
                                   "training": {"batch_size": 32, "max_epochs": 60, "patience": 2}}, registry)
    candidate = space.sample(FixedDriver({"architecture": "mlp", "augmentation": "none", "optimizer": "adam"},
                                         fill_defaults=True), registry, "image")
    result = train_candidate(load_dataset("builtin:digits", seed=0), candidate, registry, seed=0)
    assert result.status == COMPLETE and result.epochs < 60, (result.epochs, result.reason)
    stopped, best = map(int, re.fullmatch(r"early-stopped at epoch (\d+) \(best val_loss at epoch (\d+)\)",
                                          result.reason).groups())
    assert stopped == result.epochs and best == result.best_epoch and stopped - best == 2
    assert result.val_loss == min(result.history["val_loss"])
