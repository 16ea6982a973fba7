"""What a trial runner reports while it works: four small, picklable records.

The :class:`~automl.runner.TrialRunner` hands them to an ``emit`` callable: the search's progress display and
the loggers' lifecycle hooks in the search process, or the pipe to it from a worker process. Receivers
dispatch on the type (``match event: case TrialEpoch(): ...``), so a field is read by its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrialStarted:
    trial: int
    candidate: dict[str, Any]  # Candidate.to_dict()


@dataclass(frozen=True)
class TrialEpoch:
    trial: int
    epoch: int  # 0-based, as Keras counts
    max_epochs: int
    logs: dict[str, float]


@dataclass(frozen=True)
class TrialFinished:
    record: dict[str, Any]  # the trial's record; a bare {"trial", "status", "reason"} for one that never trained
    finished: int  # finished trials in the study after this one


@dataclass(frozen=True)
class Message:
    text: str


TrialEvent = TrialStarted | TrialEpoch | TrialFinished | Message
Emit = Callable[[TrialEvent], None]
