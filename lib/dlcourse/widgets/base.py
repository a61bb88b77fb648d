"""The one pattern behind every widget: controls, and a matplotlib figure redrawn when they change."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from dlcourse.device import is_grading

DrawFunction = Callable[..., Any]


class InteractiveFigure(widgets.VBox):
    """Controls stacked above one output area; every change of a control's value redraws.

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
        self.figure: Figure | None = None
        for name, control in self.controls.items():
            if not getattr(control, "description", None):
                control.description = name
            control.observe(lambda _change: self.redraw(), names="value")
        super().__init__(children=[*self.controls.values(), self.output])
        self.redraw()

    def values(self) -> dict[str, Any]:
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> Figure:
        """Draw a fresh figure with the current values and show it in the output area."""
        from IPython import get_ipython
        from IPython.display import display

        figure = plt.figure(figsize=self.figsize)
        try:
            self.draw(figure, **self.values())
        finally:
            plt.close(figure)  # shown below through display(); pyplot must not keep or re-show it
        self.figure = figure
        # Nobody looks at a widget while nbgrader runs the notebook, and a figure shown in a
        # widget's output can leave nbclient waiting for the cell to end (its issue 312).
        if get_ipython() is not None and not is_grading():
            with self.output:
                self.output.clear_output(wait=True)
                display(figure)
        return figure


def interactive_figure(
    draw: DrawFunction, controls: Mapping[str, widgets.ValueWidget], figsize: tuple[float, float] = (8, 4)
) -> InteractiveFigure:
    """A widget: `controls` (name -> ipywidgets control) above a figure drawn by `draw(fig, **values)`.

    draw: receives an empty matplotlib Figure and each control's value as a keyword argument
    named like the control; it adds axes and draws. Returns an ipywidgets.VBox (subclass)
    whose `.redraw()` redraws with the current values; it is drawn once when built.
    """
    return InteractiveFigure(draw, controls, figsize)
