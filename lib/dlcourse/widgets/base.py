"""The one pattern behind every widget: controls, and a matplotlib figure redrawn when they change."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from dlcourse.device import is_grading

DrawFunction = Callable[..., Any]


class InteractiveFigure(widgets.HBox):
    """Controls in a column beside one output area; every change of a control's value redraws.

    Beside, not above: on a 1366x768 screen the figure stays in view while a slider moves.
    A status line under the controls says "computing..." while a redraw runs. When `draw`
    raises NotImplementedError (a function the student has not written yet), the figure
    says so instead of going blank.

    `redraw()` draws again with the current values (call it in tests: no browser needed);
    `figure` is the figure drawn last; `values()` the controls' current values by name.
    """

    def __init__(
        self, draw: DrawFunction, controls: Mapping[str, widgets.ValueWidget], figsize: tuple[float, float]
    ) -> None:
        self.draw = draw
        self.controls = dict(controls)
        self.figsize = figsize
        self.output = widgets.Output()
        self.status = widgets.HTML(value="")
        self.figure: Figure | None = None
        for name, control in self.controls.items():
            if not getattr(control, "description", None):
                control.description = name
            control.observe(lambda _change: self.redraw(), names="value")
        column = widgets.VBox([*self.controls.values(), self.status],
                              layout=widgets.Layout(min_width="300px", max_width="380px"))
        super().__init__(children=[column, self.output], layout=widgets.Layout(align_items="flex-start"))
        self.redraw()

    def values(self) -> dict[str, Any]:
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> Figure:
        """Draw a fresh figure with the current values and show it in the output area."""
        from IPython import get_ipython
        from IPython.display import display

        self.status.value = "<i>computing...</i>"
        figure = plt.figure(figsize=self.figsize)
        try:
            self.draw(figure, **self.values())
        except NotImplementedError as missing:
            draw_not_implemented(figure, missing)
        finally:
            plt.close(figure)  # shown below through display(); pyplot must not keep or re-show it
            self.status.value = ""
        self.figure = figure
        # Nobody looks at a widget while nbgrader runs the notebook, and a figure shown in a
        # widget's output can leave nbclient waiting for the cell to end (its issue 312).
        if get_ipython() is not None and not is_grading():
            with self.output:
                self.output.clear_output(wait=True)
                display(figure)
        return figure


def draw_not_implemented(figure: Figure, missing: NotImplementedError) -> None:
    """Replace whatever `figure` holds by one panel saying which function is still to write."""
    figure.clear()
    ax = figure.add_subplot()
    ax.axis("off")
    detail = str(missing) or "a function this widget needs"
    ax.text(0.5, 0.5, f"Not implemented yet:\n{detail}\n\nWrite it above, run its cell, then move a control.",
            ha="center", va="center", fontsize=12, wrap=True, transform=ax.transAxes)


def interactive_figure(
    draw: DrawFunction, controls: Mapping[str, widgets.ValueWidget], figsize: tuple[float, float] = (8, 4)
) -> InteractiveFigure:
    """A widget: `controls` (name -> ipywidgets control) beside a figure drawn by `draw(fig, **values)`.

    draw: receives an empty matplotlib Figure and each control's value as a keyword argument
    named like the control; it adds axes and draws. Returns an ipywidgets.VBox (subclass)
    whose `.redraw()` redraws with the current values; it is drawn once when built.
    """
    return InteractiveFigure(draw, controls, figsize)
