"""dlcourse.widgets: the interactive-figure base and the activation explorer, without a browser."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dlcourse.widgets.activations import ACTIVATION_NAMES, activation_curves, activation_explorer  # noqa: E402
from dlcourse.widgets.base import interactive_figure  # noqa: E402


def test_interactive_figure_draws_at_build_and_on_every_change():
    calls = []

    def draw(fig, slope, show):
        calls.append((slope, show))
        fig.add_subplot().plot([0, 1], [0, slope])

    open_before = plt.get_fignums()
    slope = widgets.FloatSlider(value=1.0, min=0, max=2)
    box = interactive_figure(draw, {"slope": slope, "show": widgets.Checkbox(value=True)}, figsize=(3, 2))
    assert isinstance(box, widgets.HBox) and calls == [(1.0, True)]
    assert box.children[-1] is box.output and slope in box.children[0].children  # controls beside
    assert box.status.value == ""
    assert box.controls["show"].description == "show"  # unnamed controls get their name
    slope.value = 2.0
    assert calls[-1] == (2.0, True) and box.figure.axes[0].lines[0].get_ydata()[1] == 2.0
    box.redraw()
    assert len(calls) == 3 and box.values() == {"slope": 2.0, "show": True}
    assert plt.get_fignums() == open_before  # no figure piles up in pyplot


def test_a_widget_whose_function_is_a_stub_says_so_on_axes():
    def draw(fig, n):
        fig.add_subplot().plot([0, 1])
        raise NotImplementedError("Write your solution here (see the docstring above).")

    box = interactive_figure(draw, {"n": widgets.IntSlider(value=1)})
    (ax,) = box.figure.axes  # text on axes renders; text on an axis-less figure does not
    assert "Not implemented yet" in ax.texts[0].get_text() and not ax.lines


def test_interactive_figure_passes_draw_errors_on():
    def draw(fig, n):
        raise ValueError("bad n")

    open_before = plt.get_fignums()
    with pytest.raises(ValueError, match="bad n"):
        interactive_figure(draw, {"n": widgets.IntSlider(value=1)})
    assert plt.get_fignums() == open_before


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@pytest.mark.parametrize("alpha", [0.1, 0.7])
def test_activation_curves_match_torch_and_autograd(name, alpha):
    curves = activation_curves(name, -6.0, 6.0, 241, alpha)  # the grid includes 0
    x = torch.tensor(curves["x"], requires_grad=True)
    function = {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, alpha),
        "elu": lambda t: torch.nn.functional.elu(t, alpha),
    }[name]
    y = function(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    assert curves["x"].shape == (241,) and curves["x"][0] == -6.0 and curves["x"][-1] == 6.0
    np.testing.assert_allclose(curves["y"], y.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(curves["dy"], dy.numpy(), atol=1e-12)


def test_activation_curves_stay_finite_far_out_and_check_inputs():
    curves = activation_curves("sigmoid", -1000.0, 1000.0, 5)
    assert np.isfinite(curves["dy"]).all() and curves["dy"][0] == 0.0
    with pytest.raises(ValueError, match="choose one of sigmoid, tanh"):
        activation_curves("swish")
    with pytest.raises(ValueError):
        activation_curves("relu", 1.0, -1.0)


def test_activation_explorer_builds_and_redraws_headless():
    box = activation_explorer()
    left, right = box.figure.axes
    assert len([l for l in left.lines if l.get_label() in ACTIVATION_NAMES]) == 5
    assert left.get_title() == "activation" and right.get_ylabel() == "f'(x)"
    box.controls["names"].value = ("relu",)
    box.controls["x_range"].value = (-2.0, 3.0)
    relu_slope = next(l for l in box.figure.axes[1].lines if l.get_label() == "relu")
    assert relu_slope.get_xdata()[0] == -2.0 and set(relu_slope.get_ydata()) == {0.0, 1.0}


@pytest.mark.parametrize("grading, shown", [(None, 1), ("autograde", 0), ("validate", 0)])
def test_interactive_figure_shows_the_figure_only_when_not_grading(monkeypatch, grading, shown):
    import IPython
    import IPython.display

    displayed = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda figure: displayed.append(figure))
    if grading:
        monkeypatch.setenv("NBGRADER_EXECUTION", grading)
    else:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    slider = widgets.IntSlider(value=1, min=0, max=3)
    figure = interactive_figure(lambda fig, n: fig.add_subplot().plot([0, n]), {"n": slider})
    assert len(displayed) == shown
    assert figure.figure is not None  # drawn either way: the pure drawing is what tests look at
