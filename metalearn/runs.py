"""Run directories: their layout (:class:`RunDir`), atomic JSON writes, JSON-lines logs, the writer's lock.

Every run (``metalearn train``, ``tune``, a meta-training run) writes one
directory; :class:`RunDir` names its files and reads them, and nothing else in
the package spells a run file's name. Everything is plain JSON, ``.npz``
arrays or PNG; nothing is pickled.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from metalearn.validation import naming, read_utf8

# An evaluation's summary of a statistic over seeds when the rule diverged on any of them: no number.
DIVERGED = "diverged"


def summary_value(summary: Any, key: str = "mean") -> float:
    """``summary[key]`` of a ``{"mean", "stderr"}`` summary; NaN where there is no number (:data:`DIVERGED`, null)."""
    value = summary.get(key) if isinstance(summary, dict) else None
    return math.nan if value is None else float(value)


class RunDir:
    """The layout of a run directory, owned here: every file's name, and readers that name the file on error.

    Inner runs (``metalearn train``) write ``config.json``, ``metrics.jsonl`` (one row per update),
    ``learning_curve.png`` and ``result.json``; tuning runs (``metalearn tune``) ``config.json``,
    ``results.json`` (every grid point's per-seed scores), ``table.md``, ``chosen.json`` (the point chosen)
    and ``learning_curves.png``. Meta-training runs write::

        config.json          the resolved MetaConfig, config_version, search hash, run id, versions
        metrics.jsonl        one row per generation (fitness statistics, the regime's own numbers, curriculum)
        eval.jsonl           the mean rule on held-out seeds (and tasks), every eval_every generations
        checkpoints/         gen_NNNNNN.npz, the whole state (metalearn.meta.checkpoint); foreign/: files moved aside
        rules/mean.npz       the rule where the search stands, a standalone rule file; rules/best.npz the best seen
        fitness.png          fitness and evaluations over generations; levels.png a curriculum's levels
        result.json          the final summary
        tensorboard/         optional mirrors of the metrics
        .lock                the writer's lock (RunLock)
    """

    CONFIG = "config.json"
    METRICS = "metrics.jsonl"
    EVALS = "eval.jsonl"
    RESULT = "result.json"
    LEARNING_CURVE = "learning_curve.png"
    TUNE_RESULTS = "results.json"
    TABLE = "table.md"
    CHOSEN = "chosen.json"
    LEARNING_CURVES = "learning_curves.png"
    FITNESS_PLOT = "fitness.png"
    LEVELS_PLOT = "levels.png"
    CHECKPOINTS = "checkpoints"
    RULES = "rules"
    TENSORBOARD = "tensorboard"
    # What a meta-training run writes (all that ``start_run(overwrite=True)`` deletes).
    META_FILES = (CONFIG, METRICS, EVALS, RESULT, FITNESS_PLOT, LEVELS_PLOT)
    META_DIRS = (CHECKPOINTS, RULES, TENSORBOARD)

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def evals(self) -> Path:
        return self.path / self.EVALS

    @property
    def result(self) -> Path:
        return self.path / self.RESULT

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    def read_chosen(self) -> dict[str, Any]:
        """A tuning run's ``chosen.json``."""
        if not (self.path / self.CHOSEN).is_file():
            raise ValueError(f"{self.path}: no {self.CHOSEN}; allowed: a run directory written by `metalearn tune`")
        return _read_object(self.path / self.CHOSEN)

    def rule(self, which: str = "mean") -> Path:
        """``rules/{which}.npz``: ``mean`` (where the search stands) or ``best`` (the best member seen)."""
        return self.path / self.RULES / f"{which}.npz"

    def is_run(self) -> bool:
        """A directory with a ``config.json``."""
        return self.path.is_dir() and self.config.is_file()

    def read_config(self) -> dict[str, Any]:
        """``config.json`` as a dict; every problem is one line naming the file."""
        if not self.config.is_file():
            raise ValueError(f"{self.path}: not a run directory (no {self.CONFIG})")
        return _read_object(self.config)

    def read_result(self) -> dict[str, Any]:
        """``result.json`` as a dict (a run that has finished)."""
        if not self.result.is_file():
            raise ValueError(f"{self.path}: has no {self.RESULT} (the run has not finished)")
        return _read_object(self.result)

    def read_metrics(self, repair: bool = False) -> list[dict[str, Any]]:
        """``metrics.jsonl``'s rows ([] before the first); ``repair``: see :func:`read_jsonl`."""
        return read_jsonl(self.metrics, repair=repair) if self.metrics.is_file() else []

    def read_evals(self, repair: bool = False) -> list[dict[str, Any]]:
        """``eval.jsonl``'s rows ([] before the first)."""
        return read_jsonl(self.evals, repair=repair) if self.evals.is_file() else []


def _read_object(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(read_utf8(path))
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: not valid JSON ({getattr(err, 'msg', 'nested too deeply')})") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def new_run_dir(root: str | os.PathLike, name: str) -> Path:
    """Creates ``root/name-YYYYmmdd-HHMMSS[-k]`` and returns it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        path, k = Path(f"{base}-{k}"), k + 1
    path.mkdir(parents=True)
    return path


def to_jsonable(x: Any) -> Any:
    """Numpy scalars/arrays to Python; NaN/inf (not JSON) to null."""
    if isinstance(x, np.ndarray | np.generic):
        return to_jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    return x


def _write_atomic(path: Path, text: str) -> None:
    """Temp file + rename, so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with naming(path):
        tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    """Atomic write of ``obj`` as indented JSON."""
    _write_atomic(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with naming(path), path.open("a") as f:
        for row in rows:
            f.write(json.dumps(to_jsonable(row), allow_nan=False) + "\n")


def read_jsonl(path: Path, repair: bool = False, warn=print) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file; an unreadable row is an error naming the file and line.

    With ``repair``, a last line without its newline (what a crash mid-append leaves) is
    dropped if it is not valid JSON, with a warning, or kept if it is. The file is not
    changed: before appending to it, write the rows back with :func:`rewrite_jsonl` unless
    :func:`ends_whole`.
    """
    text = read_utf8(path)
    lines = text.splitlines()
    torn = repair and bool(lines) and not text.endswith("\n")
    if torn:
        try:
            json.loads(lines[-1])
        except (json.JSONDecodeError, RecursionError):
            warn(f"warning: {path}: dropping its torn last line (a crash mid-write): {lines[-1][:60]!r}")
            lines = lines[:-1]
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            why = getattr(err, "msg", "nested too deeply")
            raise ValueError(f"{path}: line {i} is not valid JSON ({why}): {line[:60]!r}") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}: line {i} is not a JSON object: {line[:60]!r}")
        rows.append(row)
    return rows


def ends_whole(path: Path) -> bool:
    """Whether a JSON-lines file is empty or ends with a newline (a row appended to it starts a line)."""
    data = path.read_bytes()
    return not data or data.endswith(b"\n")


def rewrite_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replaces ``path`` by ``rows`` atomically."""
    _write_atomic(path, "".join(json.dumps(to_jsonable(r), allow_nan=False) + "\n" for r in rows))


class RunDirInUse(ValueError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """An exclusive lock on a run directory, held until :meth:`release` or the process's end.

    ``flock`` on ``run_dir/.lock``: the operating system drops it when the holder
    dies however it dies (SIGKILL included), so a lock left by a dead process is
    stale by construction and is taken over, with a note. The file records the
    holder (pid, host, command, start time) so a refused writer can name it.
    """

    FILE = ".lock"

    def __init__(self, run_dir: Path, warn=print):
        self.path = Path(run_dir) / self.FILE
        self._fd: int | None = None
        self._warn = warn

    def acquire(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise ValueError(f"{self.path}: cannot create the run directory's lock file ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunDirInUse(
                f"{self.path.parent}: in use by another metalearn process ({holder}); wait for it to end or stop "
                "it, then resume"
            ) from None
        previous = _holder(fd)
        if previous != "unknown holder":
            self._warn(f"note: {self.path.parent}: its previous writer ({previous}) is gone; taking over")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "argv": sys.argv, "since": time.strftime("%c")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # an empty file: nobody holds it
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        return f"pid {info['pid']} on {info['host']}, since {info['since']}: {' '.join(info['argv'])}"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "unknown holder"


def plot_learning_curve(path: Path, steps: np.ndarray, returns: np.ndarray, title: str) -> None:
    """``returns``: (seeds, updates) episodic return; saves a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    returns = np.atleast_2d(returns)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    mean = returns.mean(0)
    ax.plot(steps, mean, color="C0", label=f"mean over {returns.shape[0]} seed(s)")
    if returns.shape[0] > 1:
        ax.fill_between(steps, returns.min(0), returns.max(0), color="C0", alpha=0.25, label="min–max")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episodic return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
