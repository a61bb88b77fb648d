"""The two steps of nbgrader's autograde that the course replaces (see jupyter_config.py).

1. `ReconstructFromSource` (sanitizing): the notebook that is graded is rebuilt from the
   course's own release and source notebooks; only the student's answers, and the cells a
   student may edit, are taken from the submission. Metadata (points, grade ids, cell types,
   locks, checksums) always comes from the course, so editing it earns nothing; a deleted,
   copied, split, renamed or edited cell costs at most its own points, with a note saying so.
2. `SandboxedExecute` (executing): the cells run through `dlcourse.remote.runner`: the grade
   cells in a clean grading process, the submission's code in a sandboxed process of its own.
   Outputs and errors come back into the cells, so nbgrader's SaveAutoGrades scores them as
   usual (a cell scores 0 when it has an error output).

Notes for the instructor (what was rebuilt, what was attempted) go to nbgrader's log and, when
`dlcourse grade` runs nbgrader, to the JSON-lines file named by $DLCOURSE_GRADE_REPORT.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Integer

REPORT_ENV = "DLCOURSE_GRADE_REPORT"
PROTECT_ENV = "DLCOURSE_PROTECT"


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def report(kind: str, notebook: str, **fields: Any) -> None:
    """Append one record to the grading report, when `dlcourse grade` asked for one."""
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, "notebook": notebook, **fields}) + "\n")


def reconstruct(submission: dict, release: dict, source: dict) -> tuple[dict, list[str]]:
    """The notebook to grade, and one note per thing that was not as the course released it.

    release: the notebook as students got it (the skeleton: order, metadata, checksums);
    source: the course's source notebook (grade and locked cells with their hidden tests).
    """
    notes: list[str] = []
    source_by_id = {_meta(c)["grade_id"]: c for c in source["cells"] if _meta(c).get("grade_id")}
    wanted_ids = {_meta(c)["grade_id"] for c in release["cells"] if _meta(c).get("grade_id")}
    plain_ids = {c.get("id") for c in release["cells"] if not _meta(c).get("grade_id")}
    matched: dict[Any, dict] = {}
    extras_after: dict[Any, list[dict]] = {None: []}
    last = None
    for cell in submission.get("cells", []):
        grade_id = _meta(cell).get("grade_id")
        key = ("grade", grade_id) if grade_id in wanted_ids else ("plain", cell.get("id")) \
            if not grade_id and cell.get("id") in plain_ids else None
        if key is not None and key not in matched:
            matched[key] = cell
            last = key
            extras_after.setdefault(key, [])
            continue
        if grade_id:
            why = "appears twice (a copied cell?)" if grade_id in wanted_ids else "is not a cell of this assignment"
            notes.append(f"cell {grade_id!r} {why}: it was graded as ordinary code")
        extras_after.setdefault(last, []).append(_ordinary(cell))
    cells = []
    for index, skeleton in enumerate(release["cells"]):
        meta = _meta(skeleton)
        key = ("grade", meta["grade_id"]) if meta.get("grade_id") else ("plain", skeleton.get("id"))
        theirs = matched.get(key)
        cells.append(_merge(skeleton, theirs, source_by_id, notes))
        cells += extras_after.get(key, []) if theirs is not None else []
        if index == 0:
            cells += extras_after.get(None, [])
    rebuilt = {**release, "cells": cells}
    return rebuilt, notes


def _ordinary(cell: dict) -> dict:
    """A submitted cell that the course does not know, as an ordinary cell without metadata."""
    kept = {"cell_type": cell.get("cell_type", "code"), "metadata": {}, "source": cell.get("source", "")}
    if kept["cell_type"] == "code":
        kept.update(outputs=[], execution_count=None)
    elif kept["cell_type"] not in ("markdown", "raw"):
        kept["cell_type"] = "raw"
    return kept


def _text(cell: dict) -> str:
    return "".join(cell.get("source", "")).strip()


def _essentials(cell: dict) -> tuple:
    """The nbgrader metadata that decides grading (not checksums, which only the release has)."""
    meta = _meta(cell)
    return tuple(meta.get(key) for key in ("grade_id", "grade", "solution", "locked", "task", "points"))


def _merge(skeleton: dict, theirs: dict | None, source_by_id: dict, notes: list[str]) -> dict:
    cell = json.loads(json.dumps(skeleton))  # a deep copy of the course's cell
    meta = _meta(cell)
    grade_id = meta.get("grade_id")
    if meta.get("solution"):  # an answer: the student's text, in the course's cell
        if theirs is None:
            notes.append(f"answer cell {grade_id!r} was deleted: its empty answer was graded")
        else:
            cell["source"] = theirs.get("source", "")
            if theirs.get("cell_type") != cell["cell_type"]:
                notes.append(f"answer cell {grade_id!r} was turned into {theirs.get('cell_type')}: graded as "
                             f"{cell['cell_type']}")
        return cell
    if grade_id:  # grade and locked cells: the course's source, hidden tests included
        original = source_by_id.get(grade_id, skeleton)
        if theirs is None:
            notes.append(f"cell {grade_id!r} was deleted: the course's version was graded")
        elif _text(theirs) not in (_text(skeleton), _text(original)) or _essentials(theirs) != _essentials(skeleton):
            notes.append(f"cell {grade_id!r} was edited (code or metadata): the course's version was graded")
        cell["source"] = original["source"]
        return cell
    if cell["cell_type"] == "code" and theirs is not None:  # a cell students may edit
        cell["source"] = theirs.get("source", "")
    return cell


class ReconstructFromSource(NbGraderPreprocessor):
    """Sanitizing: rebuild the submitted notebook from the course's release and source notebooks."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        directory = CourseDirectory(config=self.config)
        name = f"{info['notebook']}.ipynb"
        release = _read(directory.format_path(directory.release_directory, ".", info["assignment"]), name)
        source = _read(directory.format_path(directory.source_directory, ".", info["assignment"]), name)
        rebuilt, notes = reconstruct(nb, release, source)
        for note in notes:
            self.log.warning("%s (%s): %s", info["student"], info["notebook"], note)
        report("notes", info["notebook"], notes=notes)
        return nbformat.from_dict(rebuilt), resources


def _read(folder: str, name: str) -> dict:
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `dlcourse build` so that course/ matches solutions/")
    return json.loads(path.read_text(encoding="utf-8"))


def cell_roles(nb) -> list[dict]:
    """The runner's job: each code cell with its role, decided by the course's metadata."""
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        role = "grade" if meta.get("grade") else "given" if meta.get("locked") else "student"
        cells.append({"index": index, "role": role, "name": meta.get("grade_id") or cell.get("id") or f"cell {index}",
                      "source": cell.source})
    return cells


class SandboxedExecute(NbGraderPreprocessor):
    """Executing: run the cells with dlcourse.remote.runner and put the outputs back in the notebook."""

    cell_timeout = Integer(120, help="seconds each cell may run").tag(config=True)
    memory_mb = Integer(8192, help="memory limit of each process of the submission, MB (0: none)").tag(config=True)
    threads = Integer(1, help="BLAS/torch threads of the submission's process").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        directory = CourseDirectory(config=self.config)
        protect = [directory.root, *filter(None, os.environ.get(PROTECT_ENV, "").split(os.pathsep))]
        job = {"cells": cell_roles(nb), "cell_timeout": self.cell_timeout, "memory_mb": self.memory_mb,
               "threads": self.threads, "protect": protect}
        runner = subprocess.run([sys.executable, "-m", "dlcourse.remote.runner"], input=json.dumps(job),
                                capture_output=True, text=True)
        records = [json.loads(line) for line in runner.stdout.splitlines() if line.startswith("{")]
        by_index = {r["index"]: r["outputs"] for r in records if "index" in r}
        summary = next((r["summary"] for r in records if "summary" in r), None)
        if summary is None:
            raise RuntimeError(f"the grading process failed:\n{runner.stderr[-2000:]}")
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                cell.outputs = [nbformat.from_dict(output) for output in by_index.get(index, [])]
                cell.execution_count = index + 1
        for event in summary["events"]:
            self.log.warning("%s (%s): the submission %s", info["student"], info["notebook"], event)
        report("run", info["notebook"], **summary)
        return nb, resources
