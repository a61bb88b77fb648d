"""The report of what the class got wrong, opened in Chromium as an instructor opens it: a file, offline.

A small class of 00_primer (the solution, a one_hot that fills whole columns, the blank release)
is graded with `dlcourse grade`, `dlcourse report` writes the page, and the browser opens it
with every network request refused. A screenshot lands in test-artifacts/ui/report.png.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from labdriver import ARTIFACTS  # noqa: E402
from test_pipeline import run_dlcourse, scratch_course  # noqa: E402

ASSIGNMENT = "00_primer"
ONE_HOT_COLUMNS = ("def one_hot(y, num_classes):\n    out = np.zeros((len(y), num_classes))\n"
                   "    out[:, y] = 1.0\n    return out\n")

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    root = scratch_course(tmp_path_factory.mktemp("report-ui"), ASSIGNMENT)
    solution = json.loads((root / "solutions" / ASSIGNMENT / "primer.ipynb").read_text(encoding="utf-8"))
    wrong = json.loads(json.dumps(solution))
    next(c for c in wrong["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "one_hot")["source"] = \
        ONE_HOT_COLUMNS
    blank = (root / "course" / ASSIGNMENT / "primer.ipynb").read_text(encoding="utf-8")
    for student, text in (("ada", json.dumps(solution)), ("ben", json.dumps(wrong)), ("cy", blank)):
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "primer.ipynb").write_text(text, encoding="utf-8")
    run_dlcourse(root, "grade", ASSIGNMENT, "--workers", "2")
    made = run_dlcourse(root, "report", ASSIGNMENT)
    assert made.returncode == 0, made.stdout + made.stderr
    return root / "reports" / f"{ASSIGNMENT}.html"


def test_the_report_page_works_offline_and_fits_a_laptop_screen(browser, report_page):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, offline=True)
    page = context.new_page()
    requested, errors = [], []
    page.route("**/*", lambda route: (requested.append(route.request.url), route.continue_())
               if route.request.url.startswith(("file:", "data:")) else (requested.append(route.request.url),
                                                                           route.abort()))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(report_page.as_uri())
        page.wait_for_load_state("load")
        outside = [url for url in requested if not url.startswith(("file:", "data:"))]
        assert not outside and not errors, (outside, errors)
        sizes = page.eval_on_selector_all("img", "images => images.map(i => [i.complete, i.naturalWidth])")
        assert len(sizes) == 2 and all(done and width > 0 for done, width in sizes), sizes
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 1366, f"the page is {width} px wide: it scrolls sideways on a 1366x768 screen"
        one_hot = page.locator("h3#check_one_hot")
        assert "33% passed" in one_hot.inner_text()  # ada of ada, ben, cy
        item = page.locator("li", has_text="every row is all ones")
        assert "33% of the class (1):" in item.inner_text()
        assert not item.locator("details").evaluate("d => d.open")
        item.locator("summary").click()
        assert "ben" in item.locator("details").inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    finally:
        context.close()
