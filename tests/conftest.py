"""Shared test setup: headless plots, a private data cache, and a notebook timing report."""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

_notebook_seconds: dict[str, float] = defaultdict(float)
_cell_seconds: dict[str, float] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:
    """Keep what must share a process together under `pytest -n N --dist loadgroup`.

    The cells of one notebook share a kernel (nbval), the browser tests share one lab server,
    and the tests that use a module-scoped fixture of their own module (a graded class, a
    solution's namespace) share its one computation; every other test is spread over the
    workers one by one.
    """
    for item in items:
        path = item.nodeid.split("::")[0]
        if path.endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(path))
        elif path.startswith("tests/ui/"):
            item.add_marker(pytest.mark.xdist_group("browser"))
        elif _uses_a_module_fixture_of(path, item):
            item.add_marker(pytest.mark.xdist_group(path))


def _uses_a_module_fixture_of(path: str, item) -> bool:
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(defs[-1].scope == "module" and defs[-1].baseid == path for defs in definitions.values() if defs)


def pytest_runtest_logreport(report) -> None:
    """Add up the time of every nbval cell (setup, call, teardown) per notebook."""
    nodeid = report.nodeid.split("@")[0]  # without the xdist group suffix
    path = nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration
        if report.when == "call":
            _cell_seconds[nodeid] = report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    """After the run: each notebook's execution time, slowest first, and the slowest cells."""
    if not _notebook_seconds:
        return
    write = terminalreporter.write_line
    terminalreporter.section("notebook execution times (nbval, slowest first)")
    for path, seconds in sorted(_notebook_seconds.items(), key=lambda item: -item[1]):
        write(f"{seconds:7.1f} s  {path}")
    write(f"{sum(_notebook_seconds.values()):7.1f} s  in all")
    write("slowest cells:")
    for nodeid, seconds in sorted(_cell_seconds.items(), key=lambda item: -item[1])[:8]:
        write(f"{seconds:7.1f} s  {nodeid}")
