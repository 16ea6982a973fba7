"""What a trial's row says about how its training ended (automl.trainer), on real digits."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from automl.data import load_dataset
from automl.hp import FixedDriver
from automl.plugin_manager import build_registry
from automl.search_space import SearchSpace
from automl.trainer import COMPLETE, Checkpointing, train_candidate


def small_mlp(registry, **training):
    """A one-layer MLP trained by Adam at a constant 0.01, with the given training settings."""
    space = SearchSpace.from_dict({"architectures": {"mlp": {"layers": 1, "units": 32, "dropout": 0.0}},
                                   "augmentations": ["none"],
                                   "optimizers": {"adam": {"learning_rate": 0.01, "schedule": "constant"}},
                                   "training": training}, registry)
    return space.sample(FixedDriver({"architecture": "mlp", "augmentation": "none", "optimizer": "adam"},
                                    fill_defaults=True), registry, "image")


def test_a_trial_ended_by_early_stopping_says_so_and_where_its_best_epoch_was():
    # Without it a row that stopped on a plateau reads like one that ran its epochs.
    registry = build_registry(autoload=False)
    candidate = small_mlp(registry, batch_size=32, max_epochs=60, patience=2)
    result = train_candidate(load_dataset("builtin:digits", seed=0), candidate, registry, seed=0)
    assert result.status == COMPLETE and result.epochs < 60, (result.epochs, result.reason)
    stopped, best = map(int, re.fullmatch(r"early-stopped at epoch (\d+) \(best val_loss at epoch (\d+)\)",
                                          result.reason).groups())
    assert stopped == result.epochs and best == result.best_epoch and stopped - best == 2
    assert result.val_loss == min(result.history["val_loss"])


def test_early_stopping_can_watch_validation_accuracy_from_a_later_epoch(tmp_path):
    """training.early_stopping: the trial is not judged before from_epoch, keeps the weights of its best
    val_accuracy epoch, and its row shows that epoch's scores."""
    import numpy as np

    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict({"architectures": {"mlp": {"layers": 1, "units": 32, "dropout": 0.0}},
                                   "augmentations": ["none"],
                                   "optimizers": {"adam": {"learning_rate": 0.01, "schedule": "constant"}},
                                   "training": {"batch_size": 32, "max_epochs": 40, "patience": 2,
                                                "early_stopping": {"monitor": "val_accuracy", "from_epoch": 6}}},
                                  registry)
    rule = space.early_stopping
    assert (rule.monitor, rule.mode, rule.from_epoch) == ("val_accuracy", "max", 6)
    candidate = space.sample(FixedDriver({"architecture": "mlp", "augmentation": "none", "optimizer": "adam"},
                                         fill_defaults=True), registry, "image")
    dataset = load_dataset("builtin:digits", seed=0)
    # Checkpointed after every epoch: before from_epoch early stopping has judged nothing yet (best is None).
    checkpoint = Checkpointing(tmp_path / "checkpoint", every_seconds=0.0)
    result = train_candidate(dataset, candidate, registry, seed=0, early_stopping=rule, checkpoint=checkpoint)
    accuracy = result.history["val_accuracy"]
    assert result.status == COMPLETE and result.epochs >= 6 + 2 + 1
    assert result.best_epoch - 1 == max(range(6, len(accuracy)), key=accuracy.__getitem__)
    assert result.val_accuracy == accuracy[result.best_epoch - 1] == max(accuracy[6:])
    if result.epochs < 40:
        assert re.fullmatch(r"early-stopped at epoch \d+ \(best val_accuracy at epoch \d+\)", result.reason)
    predicted = np.argmax(result.model.predict(np.asarray(dataset.x_val), verbose=0), axis=1)
    assert abs(float(np.mean(predicted == np.asarray(dataset.y_val))) - result.val_accuracy) < 1e-6  # those weights

    # A trial that ends before from_epoch leaves a checkpoint whose early stopping has judged nothing yet.
    early = Checkpointing(tmp_path / "early", every_seconds=0.0)
    short = space.sample(FixedDriver({"architecture": "mlp", "augmentation": "none", "optimizer": "adam"},
                                     fill_defaults=True), registry, "image")
    interrupted = train_candidate(dataset, replace(short, max_epochs=3), registry, seed=0, early_stopping=rule,
                                  checkpoint=early)
    assert interrupted.status == COMPLETE and json.loads((tmp_path / "early" / "state.json").read_text())[
        "early_stopping"]["best"] is None


def test_early_stopping_rule_picks_the_epoch_keras_restores():
    from automl.search_space import EarlyStoppingRule

    history = {"val_loss": [1.0, 0.5, 0.7, 0.5, 0.9], "val_accuracy": [0.2, 0.3, 0.6, 0.6, 0.4]}
    assert EarlyStoppingRule().best_epoch(history) == 1  # the first of two equal minima
    assert EarlyStoppingRule("val_accuracy").best_epoch(history) == 2
    assert EarlyStoppingRule("val_loss", from_epoch=2).best_epoch(history) == 3
    assert EarlyStoppingRule("val_accuracy", from_epoch=3).best_epoch(history) == 3
    assert EarlyStoppingRule("val_accuracy", from_epoch=3).best_epoch(history, epochs=3) == 2  # ended before it
    assert EarlyStoppingRule("val_accuracy", from_epoch=9).best_epoch(history) == 4


def test_a_wrong_early_stopping_setting_names_the_rule():
    import pytest

    from automl.errors import SearchSpaceError

    registry = build_registry(autoload=False)
    for setting in ({"monitor": "accuracy"}, {"from_epoch": 20}, {"from_epoch": -1}, {"patience": 3}, "val_loss"):
        with pytest.raises(SearchSpaceError, match=r"training\.early_stopping: expected \{monitor: val_loss or "
                                                    r"val_accuracy, from_epoch: N\}.*max_epochs 20"):
            SearchSpace.from_dict({"architectures": ["mlp"], "training": {"early_stopping": setting}}, registry)


def test_early_stopping_judges_nothing_before_validation_accuracy_leaves_chance():
    from automl.search_space import EarlyStoppingRule, chance_level

    assert abs(chance_level([0, 1, 2, 3] * 45, 4) - 0.3468) < 1e-4  # 0.25 + 3 standard errors of 180 labels
    assert chance_level([0] * 9 + [1], 2) == 0.95  # a small split: halfway from the majority share to 1
    history = {"val_loss": [0.9, 0.8, 1.2, 1.1, 1.0], "val_accuracy": [0.25, 0.3, 0.4, 0.5, 0.45]}
    rule = EarlyStoppingRule(chance=0.35)
    assert rule.left_chance(history) == 2 and rule.left_chance(history, epochs=2) is None
    # The loss's minimum on the plateau (epoch 1) is not the weights kept: the best after leaving it is.
    assert rule.best_epoch(history) == 4 and EarlyStoppingRule().best_epoch(history) == 1
    assert rule.best_epoch(history, epochs=2) == 1  # still at chance: nothing restored, the last epoch's weights
    assert EarlyStoppingRule("val_accuracy", chance=0.35).best_epoch(history) == 3


def test_a_trial_at_chance_is_given_three_times_its_patience_and_its_row_says_it_never_left_chance():
    """Labels shuffled against the images: validation accuracy stays at chance. Patience 2 on val_loss alone
    would stop the trial within a few epochs; it runs 3 x patience epochs, then stops, and its row says why its
    score is chance."""
    import numpy as np

    registry = build_registry(autoload=False)
    candidate = small_mlp(registry, batch_size=64, max_epochs=12, patience=2)
    dataset = load_dataset("builtin:digits", seed=0)
    shuffled = replace(dataset, y_train=np.random.default_rng(0).permutation(dataset.y_train),
                       y_val=np.random.default_rng(1).permutation(dataset.y_val))
    result = train_candidate(shuffled, candidate, registry, seed=0)
    assert result.status == COMPLETE and result.epochs == 6, result.reason
    assert re.fullmatch(r"never left chance level \(val_accuracy at most 0\.\d{3}\) in 6 epochs: stopped after 6 "
                        r"\(3 x patience\)", result.reason), result.reason
    assert max(result.history["val_accuracy"]) <= 0.2 and result.left_chance_epoch is None
    # A trial that learns records the epoch it left chance (the first, on digits).
    learnt = train_candidate(dataset, replace(candidate, max_epochs=2), registry, seed=0)
    assert learnt.left_chance_epoch == 1 and "chance" not in learnt.reason


def test_the_continuation_of_the_best_trial_decays_a_constant_learning_rate():
    from automl.search_space import Candidate
    from automl.trainer import annealed

    constant = Candidate("cnn", "none", "adam", {"adam.learning_rate": 1e-3, "adam.schedule": "constant"}, 32, 10, 3)
    assert annealed(constant).params == {"adam.learning_rate": 1e-3, "adam.schedule": "cosine"}
    assert constant.params["adam.schedule"] == "constant"  # the trial's own candidate is left alone
    warm = replace(constant, params={**constant.params, "adam.schedule": "warmup_cosine"})
    assert annealed(warm) is warm  # already ends in a decay
    third_party = Candidate("cnn", "none", "mine", {"mine.rate": 0.1}, 32, 10, 3)
    assert annealed(third_party) is third_party  # no schedule parameter to change
