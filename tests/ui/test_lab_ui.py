"""The course in a real browser: JupyterLab opens it, notebooks run, widgets respond, nbgrader's pages load.

All UI tests live in this one module so that pytest-xdist (`--dist loadscope`) sends them to
one worker, which starts one lab. Run them alone with `pytest -m ui tests/ui`.
Screenshots: test-artifacts/ui/.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labdriver import (  # noqa: E402  (tests/ui/labdriver.py)
    ARTIFACTS, CONTROLS, FIGURE_TEXT, SOURCE_ROOT, NotebookPage, nbgrader_meta, saved_problems, skip_reason,
    wait_until, widget_cells)

_reason = skip_reason()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

pytestmark = pytest.mark.ui

NOTEBOOK_TIMEOUT = 300   # s for Run All of one solution notebook (they run in <= 90 s on 2 cores)
WIDGET_TIMEOUT = 30      # s for a widget to render, and for its figure to change after a move


def _found(folder: str) -> list[str]:
    return sorted(p.relative_to(SOURCE_ROOT).as_posix() for p in SOURCE_ROOT.glob(f"{folder}/*/*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


SOLUTIONS = _found("solutions")
RELEASES = _found("course")


def _id(path: str) -> str:
    return str(Path(path).parent.name + "/" + Path(path).stem)


def _artifact(*parts) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = "-".join(str(p) for p in parts)
    return str(ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png"))


def _move(widget) -> str:
    """Move the first control of a widget (slider, dropdown, ...); returns what was done."""
    for kind, selector in CONTROLS:
        controls = widget.locator(selector)
        if not controls.count():
            continue
        control = controls.first
        control.scroll_into_view_if_needed()
        if kind == "slider":
            slider = widget.locator(".widget-slider").first
            readout = slider.locator(".widget-readout")
            before = readout.first.inner_text() if readout.count() else None
            control.focus()
            control.press("ArrowRight")
            if readout.count() and readout.first.inner_text() == before:  # at its maximum already
                control.press("ArrowLeft")
                control.press("ArrowLeft")
            after = readout.first.inner_text() if readout.count() else "?"
            return f"slider {before} -> {after}"
        if kind == "dropdown":
            options = control.locator("option").all()
            current = control.input_value()
            values = [o.get_attribute("value") for o in options]
            other = next((v for v in values if v != current), None)
            if other is None:
                continue
            control.select_option(other)
            return f"dropdown {current!r} -> {other!r}"
        if kind in ("toggle buttons", "radio buttons"):
            choices = controls.all()
            if kind == "radio buttons":
                target = next((c for c in choices if not c.is_checked()), None)
            else:
                target = next((c for c in choices if "mod-active" not in (c.get_attribute("class") or "")), None)
            if target is None:
                continue
            target.click()
            return f"{kind}: clicked {target.inner_text() or target.get_attribute('value')!r}"
        control.click()
        return f"{kind}: clicked {control.inner_text()!r}"
    return ""


@pytest.mark.parametrize("path", SOLUTIONS, ids=[_id(p) for p in SOLUTIONS])
def test_solution_notebook_runs_in_lab(page, lab, path):
    """Run All in the lab: every cell runs, nothing errs or writes stderr, every widget
    renders, and moving one control of each interactive widget changes its figure."""
    notebook = NotebookPage(page, lab, path).open()
    notebook.run_all(NOTEBOOK_TIMEOUT)
    saved = notebook.save()

    problems = saved_problems(saved)
    problems += [f"cell {i}: the lab shows stderr/error: {text.strip()[:300]}" for i, text in notebook.stderr_in_dom()]
    assert not problems, f"{path} in JupyterLab:\n" + "\n".join(dict.fromkeys(problems))

    check_widgets(notebook, saved, path)


def check_widgets(notebook: NotebookPage, saved: dict, path: str, change_timeout: float = WIDGET_TIMEOUT) -> None:
    """Every widget of the run notebook (`saved`: it as saved) renders, and moving one control of
    each interactive widget changes its figure within `change_timeout` s; pytest.fail otherwise.
    test_widget_check_catches_missing_redraw checks that this catches a widget that never redraws."""
    name = _id(path)
    for index, expected in widget_cells(saved).items():
        def rendered():
            views = notebook.widget_outputs(index)
            ok = [v for v in views if v.locator(".jupyter-widgets").count()
                  and "Error displaying widget" not in v.inner_text()]
            return ok if len(ok) == expected else None
        try:
            views = wait_until(rendered, WIDGET_TIMEOUT, message=f"{expected} widget(s) of cell {index} to render")
        except TimeoutError:
            texts = [v.inner_text()[:200] for v in notebook.widget_outputs(index)]
            pytest.fail(f"{path} cell {index}: {expected} widget(s) displayed, but the lab rendered "
                        f"{len(texts)} ipywidgets views: {texts} (is the jupyterlab_widgets extension enabled?)")
        for number, view in enumerate(views):
            if not any(view.locator(selector).count() for _, selector in CONTROLS):
                continue  # a progress bar or a label: rendered is all it has to do
            view.scroll_into_view_if_needed()
            try:
                figures, before = wait_until(
                    lambda: (lambda sig: sig if sig[0] else None)(notebook.figure_signature(view)),
                    WIDGET_TIMEOUT, message=f"the figure of the widget in cell {index}")
            except TimeoutError:
                view.screenshot(path=_artifact(name, f"cell{index:02d}", f"widget{number}", "nofigure"))
                shown = view.inner_text()
                hint = (" It shows the figure as text: the kernel runs matplotlib's Agg backend "
                        "(MPLBACKEND=Agg in the lab's environment?), not ipykernel's inline one."
                        if FIGURE_TEXT.search(shown) else "")
                pytest.fail(f"{path} cell {index}: widget {number} has controls but shows no figure "
                            f"within {WIDGET_TIMEOUT} s.{hint}\nIt shows: {shown[:500]}")
            view.screenshot(path=_artifact(name, f"cell{index:02d}", f"widget{number}", "before"))
            _figure_fits_beside_controls(notebook, view, f"{path} cell {index} widget {number}")
            # Move a control, and once more if the figure stays the same: under load the browser
            # can drop the first key press. A widget that never redraws fails both times.
            moves = []
            for _ in range(2):
                moves.append(_move(view))
                assert moves[-1], f"{path} cell {index}: widget {number} has no control the test knows how to move"
                try:
                    wait_until(lambda: notebook.figure_signature(view)[1] != before, change_timeout / 2,
                               message="the figure to change")
                    break
                except TimeoutError:
                    pass
            else:
                view.screenshot(path=_artifact(name, f"cell{index:02d}", f"widget{number}", "after"))
                pytest.fail(f"{path} cell {index}: moving the widget's control ({', then '.join(moves)}) did not "
                            f"change its figure within {change_timeout:.0f} s: is the redraw callback connected?")
            notebook.page.wait_for_timeout(500)
            view.screenshot(path=_artifact(name, f"cell{index:02d}", f"widget{number}", "after"))


def _figure_fits_beside_controls(notebook: NotebookPage, view, where: str) -> None:
    """On a 1366x768 screen a widget's figure stays in view while its controls are used: the
    figure is beside the controls (not below them) and inside the window's width."""
    width = notebook.page.viewport_size["width"]
    figure = view.locator(".widget-output img").first
    control = next((view.locator(sel).first for _, sel in CONTROLS if view.locator(sel).count()), None)
    if not figure.count() or control is None:
        return
    image, knob = figure.bounding_box(), control.bounding_box()
    assert image and knob, f"{where}: figure or control not laid out"
    assert image["x"] + image["width"] <= width + 1, (
        f"{where}: the figure's right edge is at {image['x'] + image['width']:.0f} px, beyond the {width} px window")
    assert image["y"] < knob["y"] + knob["height"] and image["x"] > knob["x"], (
        f"{where}: the figure is not beside its controls (figure at {image}, control at {knob})")


SELFTEST_CHANGE_TIMEOUT = 8  # s: the broken widget's figure never changes; do not wait 30 s for it
SELFTEST_WIDGET = """\
import ipywidgets as widgets
import numpy as np
from dlcourse.widgets.base import interactive_figure


def draw(fig, slope):
    ax = fig.add_subplot()
    x = np.linspace(-1.0, 1.0, 21)
    ax.plot(x, slope * x)
    ax.set(xlim=(-1, 1), ylim=(-3, 3), xlabel="x", ylabel="y", title=f"y = {slope:.2f} x")


w = interactive_figure(draw, {"slope": widgets.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.25)}, figsize=(4, 3))
"""


def _write_selftest_notebook(path: Path, broken: bool) -> None:
    import nbformat

    code = SELFTEST_WIDGET
    if broken:  # the widget still draws once when built, but no control change ever redraws it
        code += 'for c in w.controls.values():\n    c.unobserve_all("value")\n'
    code += "w"
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# UI self-test widget"), nbformat.v4.new_code_cell(code)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))


def test_widget_check_catches_missing_redraw(page, lab):
    """Self-test of check_widgets (the widget part of test_solution_notebook_runs_in_lab): it
    passes on a tiny interactive_figure widget, and fails on the same widget once its controls'
    observers are removed (a widget whose redraw callback is not connected)."""
    folder = lab.root / "uitest_broken"
    try:
        for broken in (False, True):
            path = f"uitest_broken/{'broken' if broken else 'intact'}_widget.ipynb"
            _write_selftest_notebook(lab.root / path, broken)
            notebook = NotebookPage(page, lab, path).open()
            notebook.run_all(NOTEBOOK_TIMEOUT)
            saved = notebook.save()
            problems = saved_problems(saved) + [f"cell {i}: {t[:300]}" for i, t in notebook.stderr_in_dom()]
            assert not problems, f"the self-test notebook {path} does not run cleanly:\n" + "\n".join(problems)
            assert widget_cells(saved) == {1: 1}, f"{path} should display one widget: {widget_cells(saved)}"
            if broken:
                with pytest.raises(pytest.fail.Exception, match="did not change its figure"):
                    check_widgets(notebook, saved, path, change_timeout=SELFTEST_CHANGE_TIMEOUT)
            else:
                check_widgets(notebook, saved, path)  # returns as soon as the figure changes
            lab.shutdown_kernels()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _first_check_cell(cells: list[dict]) -> int | None:
    """Index of the first grade cell that has a solution cell above it."""
    seen_solution = False
    for index, cell in enumerate(cells):
        meta = nbgrader_meta(cell)
        if cell["cell_type"] == "code" and meta.get("solution"):
            seen_solution = True
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution") and seen_solution:
            return index
    return None


@pytest.mark.parametrize("path", RELEASES, ids=[_id(p) for p in RELEASES])
def test_release_notebook_check_cell_shows_stub_message(page, lab, path):
    """A student opens the untouched release notebook, runs the cells above the first check
    cell and then that cell: the check fails with the stub's NotImplementedError message."""
    notebook = NotebookPage(page, lab, path).open()
    check = _first_check_cell(notebook.cells)
    if check is None:
        pytest.skip(f"{path} has no grade cell after a solution cell")
    notebook.select_cell(check)
    notebook.menu("Run", "notebook:run-all-above")
    above = notebook.code_cells(upto=check)
    if above:
        wait_until(lambda: notebook.prompts()[above[0]] != "[ ]:", 30, message="Run All Above to start")
    notebook.wait_ran(above, NOTEBOOK_TIMEOUT)
    prompts = notebook.prompts()
    errors = [f"cell {i}: {t.strip()[:300]}" for i in above for t in notebook.output_texts(i, "application/vnd.jupyter.stderr")]
    assert not errors, f"{path}: the cells above the first check cell fail on the untouched notebook:\n" + "\n".join(errors)
    assert all(re.fullmatch(r"\[\d+\]:", prompts[i]) for i in above), f"{path}: cells above did not all run: {prompts}"

    notebook.select_cell(check)
    notebook.menu("Run", "notebook:run-cell")
    wait_until(lambda: re.fullmatch(r"\[\d+\]:", notebook.prompts()[check]), NOTEBOOK_TIMEOUT,
               message=f"check cell {check} to run")
    notebook.wait_kernel_idle()
    shown = "\n".join(notebook.output_texts(check))
    notebook.cell(check).screenshot(path=_artifact("student", _id(path), f"cell{check:02d}"))
    assert "NotImplementedError" in shown and "Write your solution here" in shown, (
        f"{path}: the first check cell (cell {check}, {nbgrader_meta(notebook.cells[check]).get('grade_id')}) "
        f"should fail with the stub's message on the untouched notebook; it shows:\n{shown[-1500:]}")


@pytest.mark.skipif(not SOLUTIONS, reason="no solution notebook yet")
def test_validate_button_passes_on_solved_copy(page, lab):
    """nbgrader's Validate toolbar button reports success on a solved copy of a notebook."""
    source_path = SOLUTIONS[0]
    copy = Path("validate-scratch") / Path(source_path).relative_to("solutions")
    (lab.root / copy).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(lab.root / source_path, lab.root / copy)
    try:
        NotebookPage(page, lab, copy.as_posix()).open()
        button = page.locator(".jp-NotebookPanel-toolbar [data-jp-item-name='runAll'] jp-button, "
                              ".jp-NotebookPanel-toolbar [data-jp-item-name='runAll'] button").first
        assert "Validate" in button.inner_text(), "nbgrader's Validate button is missing from the notebook toolbar"
        button.click()
        dialog = page.locator(".jp-Dialog").filter(has_text="Validation")
        dialog.wait_for(timeout=NOTEBOOK_TIMEOUT * 1000)
        page.wait_for_timeout(500)
        dialog.locator(".jp-Dialog-content").screenshot(path=_artifact("validate", _id(source_path)))
        text = dialog.inner_text()
        assert "Success! Your notebook passes all the tests." in text, f"Validate on a solved copy of {source_path}:\n{text[:3000]}"
    finally:
        shutil.rmtree(lab.root / "validate-scratch", ignore_errors=True)


def test_formgrader_lists_assignments(page, lab):
    """The instructor's formgrader page loads and lists every assignment of solutions/."""
    names = sorted({Path(p).parent.name for p in SOLUTIONS})
    page.goto(f"{lab.url}/formgrader?token={lab.token}")
    page.wait_for_selector("text=Manage Assignments", timeout=60_000)
    for name in names:
        page.locator("#main-table").get_by_text(name, exact=True).first.wait_for(timeout=60_000)
    page.screenshot(path=_artifact("formgrader"), full_page=True)
    table = page.locator("#main-table").inner_text()
    missing = [n for n in names if n not in table]
    assert not missing, f"formgrader does not list {missing}:\n{table[:2000]}"
    assert not [m for m in page.console_errors if "pageerror" in m], page.console_errors


# --- what a student meets first (issue 10) ------------------------------------------------------

def test_the_lab_opens_on_the_start_page_without_news_or_instructor_panels(page, lab):
    """`make lab` opens course/README.md rendered; no "Jupyter news" prompt; a student's
    Nbgrader menu has no Formgrader or Create Assignment."""
    page.goto(f"{lab.url}/?token={lab.token}")
    heading = page.locator(".jp-RenderedMarkdown h1", has_text="Start here").first
    heading.wait_for(timeout=60_000)
    assert page.locator(".jp-RenderedMarkdown", has_text="How an exercise works").count()
    page.wait_for_timeout(3000)  # the news prompt, when enabled, appears a moment after start
    toasts = page.locator(".Toastify__toast").all_inner_texts()
    assert not [t for t in toasts if "news" in t.lower()], f"a news prompt appeared: {toasts}"
    page.screenshot(path=_artifact("start-page"))
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Nbgrader\s*$")).click()
    items = page.locator(".lm-Menu-content .lm-Menu-itemLabel").all_inner_texts()
    page.keyboard.press("Escape")
    assert "Assignment List" in items, f"the student's Nbgrader menu lacks the assignment list: {items}"
    tabs = [t.get_attribute("title") or t.inner_text() for t in page.locator(".jp-SideBar .lm-TabBar-tab").all()]
    instructor = [x for x in [*items, *tabs] if "Formgrader" in x or "Create Assignment" in x or "Courses" in x]
    assert not instructor, f"instructor panels in a student's lab: {instructor}"


WRONG_ONE_HOT = "def one_hot(y, num_classes):\n    return np.zeros((len(y), num_classes))\n"


@pytest.mark.skipif("course/00_primer/primer.ipynb" not in RELEASES, reason="no 00_primer release")
def test_a_failed_check_leads_with_the_named_mistake(page, lab):
    """A student writes a wrong one_hot in the release notebook and runs its check: the output
    shows the ✓ lines, then one red ✗ line with the message and hint, and no traceback."""
    path = "course/00_primer/primer.ipynb"
    notebook = NotebookPage(page, lab, path).open()
    answer = next(i for i, c in enumerate(notebook.cells) if nbgrader_meta(c).get("grade_id") == "one_hot")
    check = next(i for i, c in enumerate(notebook.cells) if nbgrader_meta(c).get("grade_id") == "check_one_hot")
    notebook.select_cell(answer)
    page.keyboard.press("Enter")  # edit mode
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(WRONG_ONE_HOT)
    page.keyboard.press("Escape")
    for index in notebook.code_cells(upto=check + 1):
        if index < answer and nbgrader_meta(notebook.cells[index]).get("grade_id") != "setup":
            continue
        notebook.select_cell(index)
        notebook.menu("Run", "notebook:run-cell")
        wait_until(lambda: re.fullmatch(r"\[\d+\]:", notebook.prompts()[index]), NOTEBOOK_TIMEOUT,
                   message=f"cell {index} to run")
        notebook.wait_kernel_idle()
    shown = "\n".join(notebook.output_texts(check))
    output = notebook.cell(check).locator(".jp-OutputArea").first
    output.scroll_into_view_if_needed()
    output.screenshot(path=_artifact("student", "failed-check"))
    lines = [line for line in shown.splitlines() if line.strip()]
    failure = next((i for i, line in enumerate(lines) if line.startswith("✗")), None)
    assert failure is not None, f"no ✗ line in the failed check's output:\n{shown}"
    assert all(line.startswith("✓") for line in lines[:failure]), lines[:failure]
    assert "one_hot(y, 3)" in lines[failure] and "Hint:" in shown, shown
    assert "Traceback" not in shown and "dlcourse/testing" not in shown and "File " not in shown, shown


def _run_everything(notebook_path: Path) -> None:
    """Tag every code cell `raises-exception`, so Run All goes on after a stub's error (the
    untouched release has stubs everywhere)."""
    data = json.loads(notebook_path.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            tags = cell["metadata"].setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
    notebook_path.write_text(json.dumps(data, indent=1), encoding="utf-8")


RELEASES_WITH_WIDGETS = [p for p in RELEASES if "dlcourse.widgets" in (SOURCE_ROOT / p).read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", RELEASES_WITH_WIDGETS, ids=[_id(p) for p in RELEASES_WITH_WIDGETS])
def test_release_notebook_widgets_render_before_the_exercises_are_done(page, lab, path):
    """The untouched release, run top to bottom: every widget renders a picture (the "not
    implemented yet" panel where its functions are stubs), never a blank or a figure as text."""
    copy = Path("release-scratch") / Path(path).relative_to("course")
    (lab.root / copy).parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(lab.root / Path(path).parent, (lab.root / copy).parent, dirs_exist_ok=True)
    _run_everything(lab.root / copy)
    try:
        notebook = NotebookPage(page, lab, copy.as_posix()).open()
        notebook.run_all(NOTEBOOK_TIMEOUT)
        saved = notebook.save()
        cells = widget_cells(saved)
        for index in cells:
            for number, view in enumerate(notebook.widget_outputs(index)):
                if not any(view.locator(selector).count() for _, selector in CONTROLS):
                    continue
                view.scroll_into_view_if_needed()
                try:
                    wait_until(lambda: notebook.figure_signature(view)[0] or None, WIDGET_TIMEOUT,
                               message=f"the figure of widget {number} in cell {index}")
                except TimeoutError:
                    view.screenshot(path=_artifact("release", _id(path), f"cell{index:02d}", "blank"))
                    pytest.fail(f"{path} cell {index}: widget {number} shows no picture in the release:\n"
                                f"{view.inner_text()[:500]}")
                assert not FIGURE_TEXT.search(view.inner_text()), f"{path} cell {index}: a figure shown as text"
                view.screenshot(path=_artifact("release", _id(path), f"cell{index:02d}", f"widget{number}"))
    finally:
        shutil.rmtree(lab.root / copy.parent, ignore_errors=True)
