"""Interactive figures for the notebooks, one module per widget.

Each module holds a pure function that computes what is drawn (unit-tested without a
browser) and a thin function that wires ipywidgets controls to a redraw through
`dlcourse.widgets.base.interactive_figure`. Import the module you need, e.g.
`from dlcourse.widgets.activations import activation_explorer`.
"""
