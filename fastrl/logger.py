"""Scalar metrics to TensorBoard and to a CSV file with the same rows.

Tags are grouped as in CleanRL: ``charts/...`` (episodic return and length, epsilon), ``losses/...``
(TD loss, Q values) and ``perf/...`` (steps per second). The CSV (``metrics.csv``: ``step,tag,value,
wall_time``) holds exactly the scalars sent to TensorBoard, so runs can be plotted without TensorBoard.

A resumed run opens the logger with ``resume_step``: rows logged after that step by the interrupted run
(they were not covered by its checkpoint) are dropped from the CSV, and TensorBoard is told to purge them,
so the step axis continues as if the run had never stopped.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

from fastrl.fileio import atomic_write

__all__ = ["Logger", "read_metrics"]

CSV_NAME = "metrics.csv"
_FIELDS = ("step", "tag", "value", "wall_time")


class Logger:
    """Writes scalars to ``<run_dir>/metrics.csv`` and, if ``tensorboard`` is true, TensorBoard events there.

    Args:
        run_dir: directory of the run (created if missing).
        tensorboard: also write TensorBoard event files (``torch.utils.tensorboard``).
        resume_step: continue a run whose last checkpoint was taken at this step (see the module docstring).
    """

    def __init__(self, run_dir: str | os.PathLike, *, tensorboard: bool = True, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / CSV_NAME
        if resume_step is not None and self.csv_path.exists():
            rows = [r for r in read_metrics(self.csv_path) if r[0] <= resume_step]
            with atomic_write(self.csv_path) as tmp, open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(_FIELDS)
                w.writerows((s, t, repr(v), repr(wt)) for s, t, v, wt in rows)
        new_file = not self.csv_path.exists()
        self._csv_file = open(self.csv_path, "a", newline="")  # noqa: SIM115 (closed in close())
        self._csv = csv.writer(self._csv_file)
        if new_file:
            self._csv.writerow(_FIELDS)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events the interrupted run wrote after its checkpoint.
            purge = None if resume_step is None else resume_step + 1
            self._tb = SummaryWriter(log_dir=str(self.run_dir), purge_step=purge)

    def log(self, tag: str, value: float, step: int) -> None:
        """Records ``value`` (a Python number) of ``tag`` at env step ``step``."""
        value = float(value)
        now = time.time()
        self._csv.writerow((int(step), tag, repr(value), repr(now)))
        if self._tb is not None:
            self._tb.add_scalar(tag, value, int(step), walltime=now)

    def log_dict(self, values: dict[str, float], step: int) -> None:
        """Records every ``tag: value`` of ``values`` at ``step``."""
        for tag, value in values.items():
            self.log(tag, value, step)

    def flush(self) -> None:
        """Pushes buffered rows and events to disk."""
        self._csv_file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        """Flushes and closes the files; the logger must not be used afterwards."""
        if self._csv_file.closed:
            return
        self.flush()
        self._csv_file.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_metrics(path: str | os.PathLike) -> list[tuple[int, str, float, float]]:
    """Rows ``(step, tag, value, wall_time)`` of a metrics CSV written by :class:`Logger`.

    Raises:
        OSError: ``path`` is missing or is not a fastrl metrics CSV.
    """
    path = Path(path)
    rows: list[tuple[int, str, float, float]] = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header) != _FIELDS:
            raise OSError(f"{str(path)!r} is not a fastrl metrics CSV (header {header!r})")
        for row in reader:
            if len(row) != 4:  # a row cut short by a crash
                continue
            try:
                rows.append((int(row[0]), row[1], float(row[2]), float(row[3])))
            except ValueError:
                continue
    return rows
