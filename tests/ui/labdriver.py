"""Driving JupyterLab 4 from Playwright: open a notebook, run it, read what it shows.

Used by tests/ui/test_lab_ui.py. Everything goes through what a user has: the URL, the
menus, the toolbar, the keyboard. The REST API is only read (kernel state) and used to clean up.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE_ROOT = Path(os.environ.get("DLCOURSE_UI_ROOT") or REPO).resolve()
ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM = os.environ.get("DLCOURSE_CHROMIUM") or "/usr/bin/chromium"  # e.g. a Chrome elsewhere
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


def chromium_path() -> str | None:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return None if os.environ.get("DLCOURSE_CHROMIUM") else shutil.which("chromium")


def skip_reason() -> str | None:
    """Why the UI tests cannot run here (one line), or None when they can."""
    if chromium_path() is None:
        return f"Chromium not found at {CHROMIUM}: UI tests skipped (apt-get install chromium to run them)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return f"Playwright for Python cannot be imported ({error}): UI tests skipped (pip install -e '.[dev]')"
    return None


# Output mime types: JupyterLab marks outputs `.jp-OutputArea-output[data-mime-type]`, stderr
# streams and error tracebacks alike with STDERR_MIME (a widget view's output has no mime mark).
STDERR_MIME = "application/vnd.jupyter.stderr"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
# stderr that is no defect of a notebook (the same as jupyter_config.py's IgnorePattern).
HARMLESS_STDERR = re.compile(r"Matplotlib is building the font cache")
FIGURE_TEXT = re.compile(r"<Figure size [\d.]+x[\d.]+ with \d+ Axes>")  # a figure shown as text

# Controls, in the order one is picked to move; each entry: (kind, CSS selector within a widget).
CONTROLS = [
    ("slider", ".widget-slider .noUi-handle"),
    ("dropdown", ".widget-dropdown select"),
    ("toggle buttons", ".widget-toggle-buttons button"),
    ("radio buttons", ".widget-radio-box input[type=radio]"),
    ("checkbox", ".widget-checkbox input[type=checkbox]"),
    ("button", "button.jupyter-button:not(.widget-toggle-button)"),
]

FIGURE_SIGNATURE_JS = """
async (el) => {
  const parts = [];
  for (const img of el.querySelectorAll('img')) {
    let src = img.getAttribute('src') || '';
    if (src.startsWith('blob:')) {
      const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
      let s = ''; for (let i = 0; i < bytes.length; i += 1) s += String.fromCharCode(bytes[i]);
      src = 'blob-bytes:' + btoa(s);
    }
    parts.push(src);
  }
  for (const canvas of el.querySelectorAll('canvas')) { try { parts.push(canvas.toDataURL()); } catch (e) {} }
  for (const svg of el.querySelectorAll('.jp-RenderedSVG svg')) parts.push(svg.outerHTML);
  const figures = parts.length;
  if (!figures) {
    for (const o of el.querySelectorAll('.widget-output, .widget-html-content')) parts.push(o.innerText);
  }
  return {figures, parts};
}
"""


def wait_until(condition, timeout: float, interval: float = 0.5, message: str = "condition"):
    """Poll `condition()` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


class NotebookPage:
    """One notebook open in the lab, in its own workspace."""

    def __init__(self, page, lab, path: str):
        self.page, self.lab, self.path = page, lab, path
        self.file = lab.root / path
        self.cells = read_notebook(self.file)["cells"]

    # --- opening and running --------------------------------------------------------------------

    def open(self, timeout: float = 90) -> "NotebookPage":
        workspace = "ui-" + hashlib.sha1(f"{self.path}{time.time()}".encode()).hexdigest()[:10]
        self.page.goto(self.lab.link(self.path, workspace=workspace))
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout * 1000)
        wait_until(lambda: len(self.page.locator(".jp-Notebook .jp-Cell").all()) == len(self.cells), 30,
                   message=f"all {len(self.cells)} cells of {self.path} to appear")
        self.wait_kernel_idle(timeout)
        return self

    def wait_kernel_idle(self, timeout: float = 60) -> None:
        def idle():
            kernels = self.lab.kernels()
            status = self.page.locator("[data-jp-item-name='executionProgress']").first.text_content() or ""
            return kernels and all(k["execution_state"] == "idle" for k in kernels) and "Idle" in status
        wait_until(idle, timeout, message=f"the kernel of {self.path} to be idle")

    def cell(self, index: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def select_cell(self, index: int) -> None:
        """Make cell `index` the active cell, in command mode (a click on its prompt)."""
        prompt = self.cell(index).locator(".jp-InputPrompt").first
        prompt.scroll_into_view_if_needed()
        prompt.click()
        self.page.wait_for_function(
            "i => document.querySelectorAll('.jp-Notebook .jp-Cell')[i].classList.contains('jp-mod-active')",
            arg=index)

    def menu(self, menu: str, command: str) -> None:
        """Click a main-menu entry, e.g. menu('Run', 'runmenu:run-all')."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^\s*{re.escape(menu)}\s*$")).click()
        self.page.locator(f".lm-Menu-item[data-command='{command}']").click()

    def prompts(self) -> list[str]:
        """The input prompt of every cell ('' for markdown), as shown: '[ ]:', '[*]:', '[3]:'."""
        return self.page.evaluate(
            "() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c => {"
            " const p = c.querySelector('.jp-InputPrompt'); return c.classList.contains('jp-CodeCell') && p"
            " ? p.textContent.trim() : ''; })")

    def code_cells(self, upto: int | None = None) -> list[int]:
        """Indices of the code cells with some source (empty cells never get a count)."""
        cells = self.cells[:upto] if upto is not None else self.cells
        return [i for i, c in enumerate(cells) if c["cell_type"] == "code" and source(c).strip()]

    def wait_ran(self, indices: list[int], timeout: float) -> None:
        """Wait until no cell is queued or running ('[*]:') and the kernel is idle.

        Run All queues every cell at once ('[*]:'); a cell that raises cancels the rest, which go
        back to '[ ]:'. Callers check the counts and outputs afterwards.
        """
        def done():
            prompts = self.prompts()
            return not any("*" in p for p in prompts) and not self.lab_busy()
        wait_until(done, timeout, interval=1.0, message=f"cells {indices} of {self.path} to run")
        self.wait_kernel_idle(60)

    def lab_busy(self) -> bool:
        return any(k["execution_state"] != "idle" for k in self.lab.kernels())

    def run_all(self, timeout: float) -> None:
        self.select_cell(0)
        self.menu("Run", "runmenu:run-all")
        indices = self.code_cells()
        if indices:  # the run has started once the first cell is no longer '[ ]:'
            wait_until(lambda: self.prompts()[indices[0]] != "[ ]:", 30, message="Run All to start")
        self.wait_ran(indices, timeout)

    def save(self, timeout: float = 30) -> dict:
        """Save with Ctrl+S and return the notebook as written to disk."""
        before = self.file.stat().st_mtime_ns
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("Control+s")
        wait_until(lambda: self.file.stat().st_mtime_ns != before, timeout, message=f"{self.path} to be saved")
        time.sleep(0.5)
        return read_notebook(self.file)

    # --- reading what the notebook shows ----------------------------------------------------------

    def output_texts(self, index: int, mime: str | None = None) -> list[str]:
        selector = ".jp-OutputArea-output" + (f"[data-mime-type='{mime}']" if mime else "")
        return [o.inner_text() for o in self.cell(index).locator(selector).all()]

    def stderr_in_dom(self) -> list[tuple[int, str]]:
        found = []
        for index in range(len(self.cells)):
            for text in self.output_texts(index, STDERR_MIME):
                if not HARMLESS_STDERR.search(text):
                    found.append((index, text))
        return found

    def widget_outputs(self, index: int):
        """The ipywidgets views a cell displays (not the outputs nested inside a widget)."""
        return self.cell(index).locator(
            ".jp-OutputArea-output:has(> .jupyter-widgets):not(.jupyter-widgets .jp-OutputArea-output)").all()

    def figure_signature(self, widget) -> tuple[int, str]:
        result = widget.evaluate(FIGURE_SIGNATURE_JS)
        digest = hashlib.sha256("\x00".join(result["parts"]).encode()).hexdigest()
        return result["figures"], digest


def saved_problems(notebook: dict) -> list[str]:
    """Errors, stderr, unexecuted cells and undrawn figures in a saved, executed notebook."""
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code" or not source(cell).strip():
            continue
        if cell.get("execution_count") is None:
            problems.append(f"cell {index}: not executed")
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "error":
                problems.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
            elif kind == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", ""))
                if not HARMLESS_STDERR.search(text):
                    problems.append(f"cell {index}: stderr: {text.strip()[:500]}")
            elif kind in ("display_data", "execute_result"):
                data = output.get("data", {})
                plain = "".join(data.get("text/plain", ""))
                if FIGURE_TEXT.fullmatch(plain.strip()) and not any(m.startswith("image/") for m in data):
                    problems.append(f"cell {index}: a figure shows as text {plain.strip()!r}, not as a "
                                    f"picture (is MPLBACKEND=Agg set for the kernel?)")
    return problems


def widget_cells(notebook: dict) -> dict[int, int]:
    """{cell index: number of live ipywidgets views it displays} in a saved, executed notebook.
    The test lab saves widget state (conftest), which holds only the models still open: a view of
    a widget the kernel closed (a progress bar with leave=False) is not expected to render."""
    state = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state")
    found = {}
    for index, cell in enumerate(notebook["cells"]):
        views = [o["data"][WIDGET_MIME] for o in cell.get("outputs", []) if WIDGET_MIME in o.get("data", {})]
        count = sum(state is None or view.get("model_id") in state for view in views)
        if count:
            found[index] = count
    return found
