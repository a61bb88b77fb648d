"""The course gradebook, changed one whole submission at a time, whatever database is configured.

`dlcourse grade` autogrades each submission into a small SQLite gradebook of its own (a copy of
`template`: the course's assignments, cells and students, with the course gradebook's ids),
then `merge_submission` moves that submission's rows (submitted assignment and notebooks,
grades, comments) into the course gradebook in ONE transaction: a run killed at any moment
leaves the course gradebook as it was, or with whole submissions added. Manual grades and
comments given in the formgrader survive a re-grade. Works with SQLite and PostgreSQL
(`c.CourseDirectory.db_url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, delete, func, insert, select, text
from sqlalchemy.engine import Engine

STRUCTURE = ("course", "assignment", "notebook", "base_cell", "grade_cells", "solution_cells", "task_cells",
             "source_cell", "student")
SUBMISSION = ("submitted_assignment", "submitted_notebook", "grade", "comment")


def _alembic_on_path() -> None:
    """nbgrader runs `alembic` by name when it creates a gradebook: this Python's scripts must be on PATH."""
    import os
    import sys

    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


def _tables():
    from nbgrader.api import Base
    return Base.metadata.tables


def engine_for(db_url: str) -> Engine:
    return create_engine(db_url, future=True)


def open_gradebook(db_url: str, course_id: str) -> None:
    """Create the gradebook's tables if needed, and repair what earlier versions of this tool broke."""
    from nbgrader.api import Gradebook

    _alembic_on_path()
    with Gradebook(db_url, course_id):
        pass
    engine = engine_for(db_url)
    with engine.begin() as connection:
        # Merges before this version copied alembic_version's single row every time (no key).
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).fetchall()
        if len(rows) > 1:
            connection.execute(text("DELETE FROM alembic_version"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": rows[0][0]})
    engine.dispose()


def register_students(db_url: str, students: list[str]) -> None:
    """Add the students that are not in the gradebook yet (one transaction)."""
    table = _tables()["student"]
    engine = engine_for(db_url)
    with engine.begin() as connection:
        known = {r[0] for r in connection.execute(select(table.c.id))}
        new = [{"id": s} for s in students if s not in known]
        if new:
            connection.execute(insert(table), new)
    engine.dispose()


def make_template(db_url: str, course_id: str, path: Path) -> Path:
    """A new SQLite gradebook holding the course gradebook's structure rows (same ids), no grades."""
    from nbgrader.api import Gradebook

    path.unlink(missing_ok=True)
    _alembic_on_path()
    with Gradebook(f"sqlite:///{path}", course_id):
        pass
    source, target = engine_for(db_url), engine_for(f"sqlite:///{path}")
    tables = _tables()
    with source.connect() as reading, target.begin() as writing:
        writing.execute(delete(tables["course"]))
        for name in STRUCTURE:
            rows = [dict(row._mapping) for row in reading.execute(select(tables[name]))]
            if rows:
                writing.execute(insert(tables[name]), rows)
    source.dispose()
    target.dispose()
    return path


def merge_submission(db_url: str, scratch_db: Path, student: str, assignment: str) -> None:
    """Replace (student, assignment)'s submission in the course gradebook by the scratch one, atomically."""
    tables = _tables()
    sub_a, sub_nb, grade, comment = (tables[name] for name in SUBMISSION)
    source, target = engine_for(f"sqlite:///{scratch_db}"), engine_for(db_url)
    with source.connect() as reading:
        assignment_id = reading.execute(select(tables["assignment"].c.id).where(
            tables["assignment"].c.name == assignment)).scalar_one()
        new = {name: [] for name in SUBMISSION}
        new["submitted_assignment"] = [dict(r._mapping) for r in reading.execute(select(sub_a).where(
            sub_a.c.student_id == student, sub_a.c.assignment_id == assignment_id))]
        ids = [row["id"] for row in new["submitted_assignment"]]
        new["submitted_notebook"] = [dict(r._mapping) for r in reading.execute(
            select(sub_nb).where(sub_nb.c.assignment_id.in_(ids)))]
        notebook_ids = [row["id"] for row in new["submitted_notebook"]]
        for name, table in (("grade", grade), ("comment", comment)):
            new[name] = [dict(r._mapping) for r in reading.execute(select(table).where(
                table.c.notebook_id.in_(notebook_ids)))]
        student_row = [dict(r._mapping) for r in reading.execute(select(tables["student"]).where(
            tables["student"].c.id == student))]
    with target.begin() as writing:
        if student_row and not writing.execute(select(func.count()).select_from(tables["student"]).where(
                tables["student"].c.id == student)).scalar():
            writing.execute(insert(tables["student"]), student_row)
        old = _old_submission(writing, student, assignment_id)
        _keep_manual_work(new, old)
        writing.execute(delete(grade).where(grade.c.notebook_id.in_(old["notebooks"])))
        writing.execute(delete(comment).where(comment.c.notebook_id.in_(old["notebooks"])))
        writing.execute(delete(sub_nb).where(sub_nb.c.id.in_(old["notebooks"])))
        writing.execute(delete(sub_a).where(sub_a.c.id.in_(old["assignments"])))
        for name in SUBMISSION:
            if new[name]:
                writing.execute(insert(tables[name]), new[name])
    source.dispose()
    target.dispose()


def _old_submission(connection, student: str, assignment_id: str) -> dict:
    tables = _tables()
    sub_a, sub_nb = tables["submitted_assignment"], tables["submitted_notebook"]
    assignments = [r[0] for r in connection.execute(select(sub_a.c.id).where(
        sub_a.c.student_id == student, sub_a.c.assignment_id == assignment_id))]
    notebooks = [r[0] for r in connection.execute(select(sub_nb.c.id).where(sub_nb.c.assignment_id.in_(assignments)))]
    grades = {r.cell_id: r for r in connection.execute(select(tables["grade"]).where(
        tables["grade"].c.notebook_id.in_(notebooks)))}
    comments = {r.cell_id: r for r in connection.execute(select(tables["comment"]).where(
        tables["comment"].c.notebook_id.in_(notebooks)))}
    return {"assignments": assignments, "notebooks": notebooks, "grades": grades, "comments": comments}


def _keep_manual_work(new: dict, old: dict) -> None:
    """Manual scores, extra credit and comments of the formgrader carry over to the new rows."""
    for row in new["grade"]:
        before = old["grades"].get(row["cell_id"])
        if before is not None and (before.manual_score is not None or before.extra_credit is not None):
            row["manual_score"], row["extra_credit"] = before.manual_score, before.extra_credit
            row["needs_manual_grade"] = False
    for row in new["comment"]:
        before = old["comments"].get(row["cell_id"])
        if before is not None and before.manual_comment:
            row["manual_comment"] = before.manual_comment


@dataclass
class Score:
    """One submission's points, autograded and manual kept apart."""

    student: str
    assignment: str
    timestamp: str | None
    auto_score: float
    auto_max: float
    manual_score: float
    manual_max: float
    manual_pending: int  # manually graded cells not graded yet


def scores(db_url: str) -> tuple[list[str], list[str], dict[tuple[str, str], Score]]:
    """(students, assignments, {(student, assignment): Score}) for every submission in the gradebook."""
    tables = _tables()
    engine = engine_for(db_url)
    cells = tables["grade_cells"].join(tables["base_cell"], tables["grade_cells"].c.id == tables["base_cell"].c.id)
    with engine.connect() as connection:
        students = sorted(r[0] for r in connection.execute(select(tables["student"].c.id)))
        names = dict(connection.execute(select(tables["assignment"].c.id, tables["assignment"].c.name)).fetchall())
        kinds = {r.id: (r.cell_type, r.max_score) for r in connection.execute(
            select(tables["grade_cells"].c.id, tables["grade_cells"].c.cell_type, tables["grade_cells"].c.max_score)
            .select_from(cells))}
        found: dict[tuple[str, str], Score] = {}
        for submitted in connection.execute(select(tables["submitted_assignment"])):
            score = Score(submitted.student_id, names[submitted.assignment_id],
                          submitted.timestamp.isoformat(sep=" ", timespec="seconds") if submitted.timestamp else None,
                          0.0, 0.0, 0.0, 0.0, 0)
            notebooks = select(tables["submitted_notebook"].c.id).where(
                tables["submitted_notebook"].c.assignment_id == submitted.id)
            for grade in connection.execute(select(tables["grade"]).where(tables["grade"].c.notebook_id.in_(notebooks))):
                cell_type, max_score = kinds.get(grade.cell_id, ("code", 0.0))
                points = grade.manual_score if grade.manual_score is not None else grade.auto_score
                points = (points or 0.0) + (grade.extra_credit or 0.0)
                if cell_type == "code":
                    score.auto_score += points
                    score.auto_max += max_score
                else:
                    score.manual_max += max_score
                    score.manual_score += points if grade.manual_score is not None or not grade.needs_manual_grade else 0
                    score.manual_pending += int(grade.needs_manual_grade)
            found[(score.student, score.assignment)] = score
    engine.dispose()
    return students, sorted(set(names.values())), found
