"""One configuration for JupyterLab and nbgrader.

Jupyter reads this file only from a folder on the Jupyter config path. Every entry point of
the course (`make lab`, `make test`, `dlcourse ...`) puts this folder on JUPYTER_CONFIG_PATH,
so `jupyter lab` and `nbgrader` both see the values below.
"""

import os

import dlcourse

COURSE_ROOT = os.path.dirname(os.path.abspath(__file__))
DLCOURSE_CONFIG = os.path.join(os.path.dirname(dlcourse.__file__), "config")  # files the course ships

c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)

# --- nbgrader -----------------------------------------------------------------------------
c.CourseDirectory.course_id = "dlcourse"
c.CourseDirectory.root = COURSE_ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(COURSE_ROOT, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.egg-info"]

# Assignments move through files here, not through a shared exchange (`dlcourse lab` creates it).
c.Exchange.root = os.path.join(COURSE_ROOT, "exchange")

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\n"
    "raise NotImplementedError(\"Write your solution here (see the docstring above).\")"
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# The longest cell of any notebook runs well under this; a hung submission stops here.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Autograding (dlcourse grade, `nbgrader autograde`, the formgrader): the notebook is rebuilt
# from the course's own cells, then its grade cells run in a clean process while the
# submission's code runs sandboxed in another (see lib/dlcourse/autograde.py).
from dlcourse.autograde import ReconstructFromSource, SandboxedExecute  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearOutput, LimitOutput, OverwriteKernelspec, SaveAutoGrades)

c.Autograde.sanitize_preprocessors = [ClearOutput, OverwriteKernelspec, ReconstructFromSource, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [SandboxedExecute, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata]
c.SandboxedExecute.cell_timeout = 120

# Feedback pages show each check's result and message, never a hidden test's code, and draw
# their math as MathML (`dlcourse feedback` also drops the page's MathJax link): see
# lib/dlcourse/feedback.py.
from dlcourse.feedback import MathToMathML  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests, MathToMathML]

# A student who deletes a grade cell gets it back instead of "needs manual grading" forever.
c.OverwriteCells.add_missing_cells = True

# Known-harmless stderr noise that must not zero a grade cell.
c.IgnorePattern.pattern = r"(Matplotlib is building the font cache|.*UserWarning: Matplotlib is currently using agg)"

# --- JupyterLab ---------------------------------------------------------------------------
c.ServerApp.root_dir = COURSE_ROOT
c.LabApp.default_url = "/lab/tree/course/README.md"  # the start page, opened rendered (see overrides.json)
c.ServerApp.open_browser = True
# Course-wide lab settings: no "Jupyter news" prompt (offline), Markdown opens rendered.
c.LabApp.app_settings_dir = os.path.join(DLCOURSE_CONFIG, "lab-settings")
c.LabApp.news_url = None
