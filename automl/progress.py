"""Progress display for a search: a live rich display, or one plain line per trial with ``--quiet``."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import TaskID

# How often --quiet reports a long stage (decoding a large image folder) while it runs.
QUIET_STAGE_INTERVAL = 10.0
# A stage this large is announced at once; a smaller one only once it has run for QUIET_STAGE_GRACE seconds,
# so a 20-image folder adds no lines (and an error found right after it is the first thing printed).
QUIET_STAGE_ANNOUNCE_FILES = 1000
QUIET_STAGE_GRACE = 1.0


def headline(values: dict[str, Any], separator: str = " ") -> str:
    """The score a trial's line shows: its val_accuracy, or a regression trial's val_rmse."""
    name = "val_rmse" if "val_rmse" in values and not _number(values.get("val_accuracy")) else "val_accuracy"
    return f"{name}{separator}{_fmt_metric(values.get(name))}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and value == value


def _fmt_metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


class QuietProgress:
    """One line per finished trial on stderr: readable in CI logs, nothing redrawn."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.total: int | None = None

    def start(self, total: int | None, done: int, budget_seconds: float | None) -> None:
        self.total = total

    def trial_started(self, number: int, candidate: Any, done: int) -> None:
        pass

    def epoch_end(self, epoch: int, max_epochs: int, logs: dict[str, float], trial: int | None = None) -> None:
        pass

    def trial_finished(self, record: dict[str, Any], done: int, best: float | None) -> None:
        total = f"/{self.total}" if self.total else ""
        candidate = record.get("candidate") or {}
        what = "+".join(candidate.get(k, "?") for k in ("architecture", "augmentation", "optimizer")) if candidate else ""
        print(
            f"trial {record['trial']:>3} [{done}{total}] {record['status']:<8} {headline(record, '=')} "
            f"epochs={record.get('epochs', 0)} {what} "
            f"best={_fmt_metric(best)} {record.get('reason', '')}".rstrip(),
            file=self.stream, flush=True,
        )

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @contextmanager
    def stage(self, description: str, total: int) -> Iterator[_QuietStage]:
        """A long step before the trials (checking or decoding images): a line at its start, every
        `QUIET_STAGE_INTERVAL` seconds, and at its end, with files/s and the time left. A stage that is
        small and quick prints nothing."""
        stage = _QuietStage(self, description, total)
        if total >= QUIET_STAGE_ANNOUNCE_FILES:
            stage.announce()
        yield stage
        elapsed = time.monotonic() - stage.started
        if stage.announced or elapsed >= QUIET_STAGE_GRACE:
            self.message(f"{description}: done in {elapsed:.1f} s ({total / max(elapsed, 1e-9):.0f} files/s)")

    def close(self) -> None:
        pass


class _QuietStage:
    def __init__(self, progress: QuietProgress, description: str, total: int) -> None:
        self.progress, self.description, self.total = progress, description, total
        self.done = 0
        self.announced = False
        self.started = self.reported = time.monotonic()

    def announce(self) -> None:
        self.announced = True
        self.progress.message(f"{self.description} ...")

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if not self.announced and now - self.started >= QUIET_STAGE_GRACE and self.done < self.total:
            self.announce()
        if now - self.reported >= QUIET_STAGE_INTERVAL and self.done < self.total:
            self.reported = now
            rate = self.done / (now - self.started)
            self.progress.message(f"{self.description}: {self.done}/{self.total} ({rate:.0f} files/s, "
                                  f"about {(self.total - self.done) / max(rate, 1e-9):.0f} s left)")


def progress_bars(console):
    """The rich bars of a search and of a benchmark: what runs, n of N done, a free-text field, elapsed and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
    )


class RichProgress(QuietProgress):
    """Trial i/N (or budget used) with ETA, the running trial's epoch, and the best value so far."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        super().__init__(self.console.file)
        self.progress = progress_bars(self.console)
        self.search_task: TaskID | None = None  # the search's own bar, added by start()
        self.trial_tasks: dict[int | None, Any] = {}  # one bar per running trial: with workers, several at once
        self.best: float | None = None
        self.budget: float | None = None
        self.started = time.monotonic()

    def start(self, total: int | None, done: int, budget_seconds: float | None) -> None:
        self.total, self.budget = total, budget_seconds
        self.progress.start()
        if total is None and budget_seconds:  # budget only: the bar shows seconds of budget used
            self.search_task = self.progress.add_task("search (budget s)", total=int(budget_seconds), info="")
        else:
            self.search_task = self.progress.add_task("trials", total=total, completed=done, info="")

    def trial_started(self, number: int, candidate: Any, done: int) -> None:
        what = f"{candidate.architecture}+{candidate.augmentation}+{candidate.optimizer}"
        self._drop_trial(number)
        self.trial_tasks[number] = self.progress.add_task(f"trial {number}", total=candidate.max_epochs, info=what)

    def epoch_end(self, epoch: int, max_epochs: int, logs: dict[str, float], trial: int | None = None) -> None:
        task = self.trial_tasks.get(trial)
        if task is None and len(self.trial_tasks) == 1:  # a caller that does not say which trial: the only one
            task = next(iter(self.trial_tasks.values()))
        if task is not None:
            self.progress.update(task, completed=epoch + 1, info=headline(logs))
        self._tick_budget()

    def _drop_trial(self, number: int) -> None:
        task = self.trial_tasks.pop(number, None)
        if task is not None:
            self.progress.remove_task(task)

    def trial_finished(self, record: dict[str, Any], done: int, best: float | None) -> None:
        self.best = best
        self._drop_trial(record["trial"])
        info = f"best {_fmt_metric(best)}"
        assert self.search_task is not None  # trials finish only after start()
        if self.total is None and self.budget:
            self.progress.update(self.search_task, info=info)
            self._tick_budget()
        else:
            self.progress.update(self.search_task, completed=done, info=info)
        self.progress.console.print(
            f"trial {record['trial']:>3} {record['status']:<8} {headline(record)}"
            f"  {record.get('reason', '')}".rstrip()
        )

    def _tick_budget(self) -> None:
        if self.total is None and self.budget:
            assert self.search_task is not None  # a budget is known only after start()
            self.progress.update(self.search_task, completed=min(self.budget, time.monotonic() - self.started))

    def message(self, text: str) -> None:
        self.progress.console.print(text)

    @contextmanager
    def stage(self, description: str, total: int) -> Iterator[Any]:
        """A bar with files/s and ETA for a long step before the trials (checking or decoding images)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class FilesPerSecond(ProgressColumn):
            def render(self, task) -> Text:
                return Text(f"{task.speed:.0f} files/s" if task.speed else "")

        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), FilesPerSecond(),
                       TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
        with bar:
            task = bar.add_task(description, total=total)
            yield _RichStage(bar, task)

    def close(self) -> None:
        self.progress.stop()


class _RichStage:
    def __init__(self, bar, task) -> None:
        self.bar, self.task = bar, task

    def advance(self, count: int = 1) -> None:
        self.bar.advance(self.task, count)
