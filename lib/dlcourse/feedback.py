"""What a student sees after grading: nbgrader's feedback page, without hidden tests, math rendered offline.

`nbgrader generate_feedback` renders the autograded notebook, whose grade cells hold the hidden
tests. jupyter_config.py adds nbgrader's ClearHiddenTests to the feedback step, so a page
shows each hidden check's result and message (the cell's outputs) but not its code. The page's
LaTeX is turned into MathML here (`MathToMathML`), which browsers draw without MathJax and
without a network; `offline_pages` then drops the MathJax script that nbgrader's template
links from a CDN, so a page loads nothing from the network.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)
_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.DOTALL)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$(?!\$)", re.DOTALL)


def _mathml(latex: str, display: bool) -> str | None:
    from latex2mathml.converter import convert

    try:
        return convert(latex.strip(), display="block" if display else "inline")
    except Exception:  # leave what the converter does not know as it was written
        return None


def latex_to_mathml(markdown: str) -> str:
    """`markdown` with its $...$ and $$...$$ formulas as MathML; code spans and blocks untouched."""
    def replace(match: re.Match, display: bool) -> str:
        converted = _mathml(match.group(1), display)
        return converted if converted is not None else match.group(0)

    parts = _CODE.split(markdown)
    for index in range(0, len(parts), 2):  # the even parts are outside code
        text = _DISPLAY.sub(lambda m: replace(m, True), parts[index])
        parts[index] = _INLINE.sub(lambda m: replace(m, False), text)
    return "".join(parts)


class MathToMathML(Preprocessor):
    """Markdown cells' formulas as MathML, so that a feedback page needs no MathJax."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            cell.source = latex_to_mathml(cell.source)
        return cell, resources


def offline_pages(folder: Path) -> int:
    """Remove the MathJax block from every feedback page under `folder`; returns how many changed."""
    changed = 0
    for page in folder.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = _MATHJAX.sub("", text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")
            changed += 1
    return changed
