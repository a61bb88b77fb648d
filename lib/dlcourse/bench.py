"""Time every solution notebook top to bottom in a fresh kernel, cell by cell; and grading throughput."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .course import SOURCE_DIR, assignments

BUDGET_SECONDS = 90.0  # what one solution notebook may take on 2 CPU cores


@dataclass
class Timing:
    """Wall-clock seconds of one notebook, in all and per code cell (index, seconds)."""

    notebook: str
    seconds: float
    cells: list[tuple[int, float]] = field(default_factory=list)


class _TimedClient(NotebookClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell_seconds: list[tuple[int, float]] = []

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        start = time.perf_counter()
        result = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        if cell.cell_type == "code":
            self.cell_seconds.append((cell_index, time.perf_counter() - start))
        return result


def time_notebook(root: Path, path: Path, cell_timeout: int = 180) -> Timing:
    """Execute a scratch copy of the notebook's folder and time the notebook in it.

    The kernel draws with matplotlib's Agg backend, as when grading: with the inline backend,
    nbclient sometimes never sees a widget cell finish (its issue 312) and waits for the timeout.
    """
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as scratch:
        folder = Path(scratch) / path.parent.name
        shutil.copytree(path.parent, folder)
        notebook = nbformat.read(folder / path.name, as_version=4)
        client = _TimedClient(notebook, timeout=cell_timeout, kernel_name="python3",
                              resources={"metadata": {"path": str(folder)}})
        start = time.perf_counter()
        env = {k: v for k, v in os.environ.items() if k != "DLCOURSE_QUICK"}  # the full size, as a student runs it
        client.execute(env={**env, "MPLBACKEND": "Agg"})
        seconds = time.perf_counter() - start
    return Timing(str(path.relative_to(root)), seconds, client.cell_seconds)


def bench(root: Path, names: list[str] | None = None) -> list[Timing]:
    """Time the solution notebook(s) of each assignment (all by default), slowest first."""
    timings = []
    for name in names or assignments(root):
        for path in sorted((root / SOURCE_DIR / name).glob("*.ipynb")):
            timings.append(time_notebook(root, path))
    return sorted(timings, key=lambda t: -t.seconds)


def report(timings: list[Timing]) -> str:
    """One line per notebook (over-budget ones flagged) and its three slowest cells."""
    lines = []
    for timing in timings:
        flag = f"  OVER the {BUDGET_SECONDS:.0f} s budget" if timing.seconds > BUDGET_SECONDS else ""
        lines.append(f"{timing.seconds:7.1f} s  {timing.notebook}{flag}")
        for index, seconds in sorted(timing.cells, key=lambda c: -c[1])[:3]:
            lines.append(f"           {seconds:6.1f} s  cell {index}")
    lines.append(f"{sum(t.seconds for t in timings):7.1f} s  in all")
    return "\n".join(lines)


def grading_throughput(root: Path, copies: int, workers: list[int], assignment: str = "00_primer",
                       progress=print) -> list[tuple[int, float]]:
    """Submissions per minute of `dlcourse grade` on `copies` copies of one solution, per worker count.

    Runs in a scratch copy of the course (its own gradebook); returns [(workers, per minute)].
    """
    import subprocess
    import sys

    results = []
    with tempfile.TemporaryDirectory(prefix="dlcourse-throughput-") as scratch:
        course_root = Path(scratch)
        shutil.copy2(root / "jupyter_config.py", course_root)
        for folder in (SOURCE_DIR, "course"):
            shutil.copytree(root / folder / assignment, course_root / folder / assignment)
        solution = next((root / SOURCE_DIR / assignment).glob("*.ipynb"))
        for index in range(copies):
            target = course_root / "submitted" / f"student{index:03d}" / assignment
            target.mkdir(parents=True)
            shutil.copy2(solution, target / solution.name)
        env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_CONFIG_PATH", "DLCOURSE_ROOT")}
        for count in workers:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "dlcourse", "grade", assignment, "--workers", str(count)],
                                  cwd=course_root, env=env, capture_output=True, text=True)
            minutes = (time.perf_counter() - start) / 60
            graded = done.stdout.count(": graded")
            results.append((count, graded / minutes))
            progress(f"{count} worker(s): {graded} of {copies} graded in {minutes * 60:.0f} s, "
                     f"{graded / minutes:.1f} submissions per minute")
    return results
