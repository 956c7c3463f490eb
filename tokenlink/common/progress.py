"""One progress reporter for every long job: sweep points, training stages,
encoder pretraining and the messages in between.

A run's output must read well on a terminal *and* in a log file (CI, nohup,
a Ray worker, a batch queue), where live bars turn into thousands of
carriage-return fragments. :class:`Progress` shows the same events in one of
:data:`PROGRESS_MODES`:

* ``"bar"``: live tqdm bars (for a terminal).
* ``"lines"``: plain lines, no carriage returns: one when a stage starts, one
  when it ends, and in between one about every 10 % of the stage *and* at
  least ``interval_s`` seconds after the previous one (whichever is rarer),
  each with the count, the rate and the time left. A stage prints at most
  about a dozen lines, however long it is.
* ``"none"``: nothing (warnings still print, see :meth:`Progress.warning`).
* ``"auto"``: ``"bar"`` when the stream is a terminal, ``"lines"`` otherwise.

Everything goes to the stream (default: ``sys.stderr`` at the time of
writing), so results printed on stdout (the summary table, the trace path)
stay apart from progress. Code that reports progress takes a
``progress`` argument of type :data:`ProgressLike` and calls
:func:`resolve_progress` on it, so a caller can pass `True` / `False`, a mode
name or one :class:`Progress` shared by a whole run.

Example::

    progress = Progress("lines")
    progress.message("training the semantic model of point_0000")
    stage = progress.stage("train task", total=2412, unit="step")
    for step in range(2412):
        ...
        stage.update(1)
        stage.set_postfix(f"loss={loss:.3f}")
    stage.close()
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Callable, Optional, Union

__all__ = ["PROGRESS_MODES", "Progress", "ProgressLike", "Stage", "resolve_progress", "format_duration"]

#: The values of ``tokenlink run --progress`` and of ``Progress(mode)``.
PROGRESS_MODES = ("auto", "bar", "lines", "none")

#: What a ``progress`` argument accepts: `True` (``"auto"``), `False` / `None`
#: (``"none"``), a mode of :data:`PROGRESS_MODES`, or a :class:`Progress`.
ProgressLike = Union[bool, str, "Progress", None]


def format_duration(seconds: float) -> str:
    """``"8.2 s"``, ``"4 min 05 s"``, ``"2 h 03 min"``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _format_rate(per_s: float, unit: str) -> str:
    """``"12.5 point/s"``, or ``"3.2 s/step"`` below one per second."""
    if per_s <= 0 or not math.isfinite(per_s):
        return f"- {unit}/s"
    return f"{per_s:.3g} {unit}/s" if per_s >= 0.995 else f"{1 / per_s:.3g} s/{unit}"


def _plural(unit: str, n: Optional[int] = None) -> str:
    """``unit`` for one, else its plural (batches, epochs, points)."""
    if n == 1:
        return unit
    return unit + ("es" if unit.endswith(("s", "x", "sh", "tch")) else "s")


class Stage:
    """A counted piece of work (``total`` units, or an unknown number).

    :meth:`update` adds done units, :meth:`set_postfix` sets a short status
    (``"loss=0.412"``), :meth:`close` ends it (also when used as a context
    manager). This base class shows nothing (mode ``"none"``)."""

    def __init__(self, name: str, total: Optional[int], initial: int, unit: str) -> None:
        self.name, self.total, self.unit = name, total, unit
        self.n = self.initial = int(initial)
        self.postfix = ""
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> "Stage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _LineStage(Stage):
    """Mode ``"lines"``: start, about every ``fraction`` (and >= ``interval_s`` apart), end."""

    def __init__(self, progress: "Progress", name: str, total: Optional[int], initial: int, unit: str) -> None:
        super().__init__(name, total, initial, unit)
        self._progress = progress
        self._start = self._last = progress.clock()
        self._next_fraction = self._after(initial)
        count = f"{total} {_plural(unit, total)}" if total is not None else _plural(unit)
        done = f", {initial} done before" if initial else ""
        progress.message(f"{name}: started, {count}{done}")

    def _after(self, n: int) -> float:
        """The next fraction of ``total`` worth a line, after ``n`` units."""
        if not self.total:
            return math.inf
        step = self._progress.fraction
        return (math.floor(n / self.total / step + 1e-9) + 1) * step

    def update(self, n: int = 1) -> None:
        super().update(n)
        now = self._progress.clock()
        if now - self._last < self._progress.interval_s:
            return
        if self.total and self.n / self.total + 1e-9 < self._next_fraction:
            return
        if self.total and self.n >= self.total:
            return  # the end line follows
        self._last = now
        self._next_fraction = self._after(self.n)
        self._progress.message(self._status(now))

    def _status(self, now: float) -> str:
        elapsed = now - self._start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else math.inf
        if self.total:
            left = (self.total - self.n) / rate if rate > 0 else math.inf
            text = (f"{self.name}: {self.n}/{self.total} {_plural(self.unit, self.total)} ({100 * self.n / self.total:.0f} %), "
                    f"{_format_rate(rate, self.unit)}, {format_duration(left)} left")
        else:
            text = f"{self.name}: {self.n} {_plural(self.unit, self.n)}, {_format_rate(rate, self.unit)}"
        return text + (f", {self.postfix}" if self.postfix else "")

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        elapsed = self._progress.clock() - self._start
        done = self.n - self.initial
        if self.total is None or self.n >= self.total:
            what = f"done, {self.n}" + ("" if self.total is None else f"/{self.total}")
        else:
            what = f"stopped at {self.n}/{self.total}"
        what += f" {_plural(self.unit, self.n if self.total is None else self.total)}"
        rate = f" ({_format_rate(done / elapsed, self.unit)})" if done and elapsed > 0 else ""
        self._progress.message(f"{self.name}: {what} in {format_duration(elapsed)}{rate}"
                               + (f", {self.postfix}" if self.postfix else ""))


class _BarStage(Stage):
    """Mode ``"bar"``: a tqdm bar."""

    def __init__(self, progress: "Progress", name: str, total: Optional[int], initial: int, unit: str,
                 leave: bool) -> None:
        super().__init__(name, total, initial, unit)
        from tqdm import tqdm

        self._bar = tqdm(total=total, initial=initial, desc=name, unit=unit, dynamic_ncols=True, leave=leave,
                         file=progress.stream)

    def update(self, n: int = 1) -> None:
        super().update(n)
        self._bar.update(n)

    def set_postfix(self, text: str) -> None:
        super().set_postfix(text)
        self._bar.set_postfix_str(text)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._bar.close()


class Progress:
    """How a run shows its progress (see the module docstring).

    :param mode: one of :data:`PROGRESS_MODES`.
    :param stream: where to write; default ``sys.stderr`` (looked up at each write).
    :param interval_s: ``"lines"``: at least this many seconds between two lines of one stage.
    :param fraction: ``"lines"``: at most one line per this fraction of a stage.
    :param clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, mode: str = "auto", stream: Optional[IO[str]] = None, interval_s: float = 30.0,
                 fraction: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        if mode not in PROGRESS_MODES:
            raise ValueError(f"progress: got {mode!r}; allowed: {', '.join(PROGRESS_MODES)}")
        if not interval_s >= 0 or not 0 < fraction <= 1:
            raise ValueError(f"progress: interval_s={interval_s}, fraction={fraction}; "
                             "allowed: interval_s >= 0, 0 < fraction <= 1")
        self._stream = stream
        self.interval_s, self.fraction, self.clock = float(interval_s), float(fraction), clock
        self.requested = mode
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "bar" if callable(isatty) and isatty() else "lines"
        self.mode: str = mode
        """The mode in use: ``"bar"``, ``"lines"`` or ``"none"`` (``"auto"`` resolved)."""

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    def message(self, text: str) -> None:
        """One line of progress (not shown in mode ``"none"``); does not break live bars."""
        if self.mode == "none":
            return
        self._write(text)

    def warning(self, text: str) -> None:
        """``tokenlink: warning: <text>``, in every mode (``"none"`` included)."""
        self._write(f"tokenlink: warning: {text}")

    def stage(self, name: str, total: Optional[int] = None, initial: int = 0, unit: str = "step",
              leave: bool = True) -> Stage:
        """Start a stage of ``total`` units (`None`: unknown), ``initial`` of them already done.
        ``leave``: keep the finished bar on screen (``"bar"`` mode)."""
        if self.mode == "bar":
            return _BarStage(self, name, total, initial, unit, leave)
        if self.mode == "lines":
            return _LineStage(self, name, total, initial, unit)
        return Stage(name, total, initial, unit)

    def _write(self, text: str) -> None:
        if self.mode == "bar":
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def __repr__(self) -> str:
        return f"Progress({self.requested!r} -> {self.mode!r})"


def resolve_progress(progress: ProgressLike) -> Progress:
    """A :class:`Progress` from a ``progress`` argument (see :data:`ProgressLike`)."""
    if isinstance(progress, Progress):
        return progress
    if progress is None or progress is False:
        return Progress("none")
    if progress is True:
        return Progress("auto")
    if isinstance(progress, str):
        return Progress(progress)
    raise TypeError(f"progress: got {progress!r}; allowed: True, False, one of {', '.join(PROGRESS_MODES)}, "
                    "or a tokenlink.common.progress.Progress")
