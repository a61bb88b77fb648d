"""The attention heat map of notebook 07: its pure functions and its widget (headless)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle

from dlcourse.widgets.attention import CUSTOM, attention_explorer, attention_matrix, display_chars, draw_attention


def causal_maps(text, num_layers=2, num_heads=3, causal=True):
    """Attention weights of random queries and keys over len(text) positions, from torch's softmax."""
    generator = torch.Generator().manual_seed(len(text))
    T = len(text)
    scores = torch.randn(num_layers, num_heads, T, T, generator=generator, dtype=torch.float64)
    if causal:
        scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return list(torch.softmax(scores, dim=-1))


def test_attention_matrix_picks_the_layer_and_head_and_the_future_keys():
    maps = causal_maps("abcde")
    weights, hidden = attention_matrix(maps, layer=1, head=2)
    np.testing.assert_array_equal(weights, maps[1][2].numpy())
    np.testing.assert_array_equal(hidden, np.triu(np.ones((5, 5), dtype=bool), 1))
    assert np.all(weights[hidden] == 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


@pytest.mark.parametrize("layer, head", [(2, 0), (-1, 0), (0, 3)])
def test_attention_matrix_rejects_a_layer_or_head_out_of_range(layer, head):
    with pytest.raises(ValueError, match="must be in"):
        attention_matrix(causal_maps("abc"), layer, head)


def test_attention_matrix_rejects_a_map_that_is_not_square():
    with pytest.raises(ValueError, match="num_heads, T, T"):
        attention_matrix([np.zeros((2, 3, 4))], 0, 0)


def test_display_chars_makes_whitespace_visible():
    assert display_chars("a b\n\tc") == ["a", "␣", "b", "⏎", "⇥", "c"]


def test_draw_attention_draws_the_map_to_scale_and_hatches_the_future():
    import matplotlib.pyplot as plt
    text = "hello"
    fig = plt.figure()
    draw_attention(fig, causal_maps(text), text, layer=0, head=1)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), causal_maps(text)[0][1].numpy())
    assert ax.get_aspect() == 1.0
    hatched = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()]
    assert len(hatched) == len(text) - 1                                    # one strip per row with future keys
    assert sum(p.get_width() for p in hatched) == len(text) * (len(text) - 1) / 2
    assert [t.get_text() for t in ax.get_xticklabels()] == list(text)
    assert len(fig.axes) == 2 and "attention weight" in fig.axes[1].get_ylabel()   # the colour bar
    assert "hidden by the causal mask" in ax.get_title()
    plt.close(fig)


def test_draw_attention_warns_when_a_model_looks_into_the_future():
    import matplotlib.pyplot as plt
    fig = plt.figure()
    draw_attention(fig, causal_maps("abcd", causal=False), "abcd", 0, 0)
    assert "the causal mask is not applied" in fig.axes[0].get_title()
    plt.close(fig)


def test_draw_attention_rejects_a_text_of_another_length():
    import matplotlib.pyplot as plt
    with pytest.raises(ValueError, match="characters"):
        draw_attention(plt.figure(), causal_maps("abcd"), "abc", 0, 0)


def test_explorer_builds_headless_and_follows_its_controls():
    calls = []

    def attention_fn(text):
        calls.append(text)
        return causal_maps(text)

    widget = attention_explorer(attention_fn, ["first one", "second"], num_layers=2, num_heads=3)
    assert list(widget.values()) == ["sentence", "typed", "layer", "head"]
    assert calls == ["first one"] and widget.figure.axes[0].images[0].get_array().shape == (9, 9)
    widget.controls["sentence"].value = "second"
    assert calls[-1] == "second" and widget.figure.axes[0].images[0].get_array().shape == (6, 6)
    widget.controls["layer"].value = 1
    widget.controls["head"].value = 2
    assert widget.figure.axes[0].get_title().startswith("layer 1, head 2")
    np.testing.assert_allclose(widget.figure.axes[0].images[0].get_array(), causal_maps("second")[1][2].numpy())


def test_explorer_uses_typed_text_cuts_it_and_shows_errors_on_the_figure():
    def attention_fn(text):
        if "!" in text:
            raise ValueError("characters not in the vocabulary: '!'")
        return causal_maps(text)

    widget = attention_explorer(attention_fn, ["abc"], num_layers=2, num_heads=3, max_chars=5)
    widget.controls["sentence"].value = CUSTOM
    widget.controls["typed"].value = "abcdefgh"
    assert widget.figure.axes[0].images[0].get_array().shape == (5, 5)          # cut to max_chars
    widget.controls["typed"].value = "ab!"
    texts = " ".join(t.get_text() for ax in widget.figure.axes for t in ax.texts)
    assert "Cannot show this text" in texts and "vocabulary" in texts
    widget.controls["typed"].value = ""
    assert "Type a text" in widget.figure.axes[0].texts[0].get_text()


def test_explorer_says_not_implemented_when_the_model_is_a_stub():
    def stub(text):
        raise NotImplementedError("Write your solution here (see the docstring above).")

    widget = attention_explorer(stub, ["abc"], num_layers=1, num_heads=1)
    assert "Not implemented yet" in widget.figure.axes[0].texts[0].get_text()


def test_explorer_needs_a_sentence():
    with pytest.raises(ValueError, match="at least one sentence"):
        attention_explorer(causal_maps, [], 1, 1)
