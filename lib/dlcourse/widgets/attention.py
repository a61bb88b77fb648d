"""Attention heat map (07_sequences): where each character of a sentence looks, per layer and head.

The maps come from a function the notebook passes in (it runs the student's trained causal
transformer), so this module holds no solution and works with any model:

- `attention_matrix(maps, layer, head)`: one layer's and head's (T, T) map, checked, and the
  (T, T) boolean region that a causal mask hides (key j > query i);
- `display_chars(text)`: the characters as tick labels (space, newline and tab made visible);
- `draw_attention(fig, maps, text, layer, head)`: the map drawn to scale with a colour bar,
  the causal mask's region hatched (whatever weight a model puts there still shows through);
- `attention_explorer(attention_fn, sentences, num_layers, num_heads)`: the widget.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

CUSTOM = "(type your own below)"
_VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥"}


def _as_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def attention_matrix(maps: Sequence[Any], layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
    """The attention map of one layer and head, and the region a causal mask hides.

    maps: one array or tensor per layer, each (num_heads, T, T): maps[l][h, i, j] is the weight
    query position i gives key position j (each row sums to 1).
    Returns (weights, hidden): weights (T, T) float64; hidden (T, T) bool, True where j > i
    (the future keys that a causal mask must hide: their weights should be 0).
    Raises ValueError for a layer or head out of range, or a map that is not (num_heads, T, T).
    """
    if not 0 <= layer < len(maps):
        raise ValueError(f"layer must be in 0..{len(maps) - 1}, got {layer}")
    layer_maps = _as_numpy(maps[layer])
    if layer_maps.ndim != 3 or layer_maps.shape[1] != layer_maps.shape[2]:
        raise ValueError(f"each layer's map must have shape (num_heads, T, T), got {layer_maps.shape}")
    if not 0 <= head < layer_maps.shape[0]:
        raise ValueError(f"head must be in 0..{layer_maps.shape[0] - 1}, got {head}")
    weights = layer_maps[head]
    size = weights.shape[0]
    hidden = np.triu(np.ones((size, size), dtype=bool), k=1)
    return weights, hidden


def display_chars(text: str) -> list[str]:
    """One tick label per character: space as ␣, newline as ⏎, tab as ⇥, others as they are."""
    return [_VISIBLE.get(char, char) for char in text]


def draw_attention(fig: Figure, maps: Sequence[Any], text: str, layer: int, head: int) -> None:
    """Draw one attention map on `fig`: queries down, keys across, weights 0..1 in colour."""
    weights, hidden = attention_matrix(maps, layer, head)
    if len(text) != weights.shape[0]:
        raise ValueError(f"the text has {len(text)} characters but the map is {weights.shape[0]} x {weights.shape[0]}")
    ax = fig.add_subplot()
    shown = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03, label="attention weight (each row sums to 1)")
    for row in range(weights.shape[0] - 1):   # the hidden keys j > i of query i, as one hatched strip per row
        ax.add_patch(Rectangle((row + 0.5, row - 0.5), weights.shape[0] - 1 - row, 1.0, fill=False,
                               hatch="///", edgecolor="white", linewidth=0.0, alpha=0.6))
    labels = display_chars(text)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_aspect("equal")
    ax.set_xlabel("key: the character looked at (position j)")
    ax.set_ylabel("query: the character looking (position i)")
    leak = float(weights[hidden].sum()) if hidden.any() else 0.0
    note = "hatched: future keys j > i, hidden by the causal mask"
    if leak > 1e-6:
        note = f"WARNING: {leak:.2f} of weight on future keys: the causal mask is not applied"
    ax.set_title(f"layer {layer}, head {head}\n{note}", fontsize=10)


def _draw_message(fig: Figure, message: str) -> None:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, wrap=True, transform=ax.transAxes)


def attention_explorer(attention_fn: Callable[[str], Sequence[Any]], sentences: Sequence[str], num_layers: int,
                       num_heads: int, max_chars: int = 48, figsize: tuple[float, float] = (7.5, 5.6)):
    """A widget: choose a sentence (or type one), a layer and a head; the attention map redraws.

    attention_fn(text) returns the model's maps for that text, one (num_heads, T, T) array per
    layer (T = len(text)); it may raise ValueError (e.g. a character not in the vocabulary),
    which is shown on the figure. Texts longer than max_chars are cut to their first max_chars.
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    if not sentences:
        raise ValueError("attention_explorer needs at least one sentence to choose from")
    controls = {
        "sentence": w.Dropdown(options=[*sentences, CUSTOM], value=sentences[0], description="sentence"),
        "typed": w.Text(value="def f(x):", description="your text", continuous_update=False),
        "layer": w.IntSlider(value=0, min=0, max=num_layers - 1, description="layer"),
        "head": w.IntSlider(value=0, min=0, max=num_heads - 1, description="head"),
    }

    def draw(fig, sentence, typed, layer, head):
        text = (typed if sentence == CUSTOM else sentence)[:max_chars]
        if not text:
            _draw_message(fig, "Type a text in the box on the left.")
            return
        try:
            maps = attention_fn(text)
        except ValueError as error:
            _draw_message(fig, f"Cannot show this text:\n{error}")
            return
        draw_attention(fig, maps, text, layer, head)

    return interactive_figure(draw, controls, figsize=figsize)
