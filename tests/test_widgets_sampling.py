"""The sampling explorer of notebook 07: its pure functions and its widget (headless)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from dlcourse.widgets.sampling import draw_sampling, next_char_distribution, sampling_explorer

CHARS = list("abcdefghijklmnopqrstuvwxyz ")


def reference_probs(logits, temperature, top_k):
    """softmax(logits / T) over the top k (ties kept), T = 0 greedy: the notebook's definition, written in torch."""
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).double()
    scaled = logits.double() / temperature
    if top_k is not None:
        kth = scaled.topk(min(top_k, scaled.shape[-1]), -1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, -1)


def logits_of(prompt):
    return torch.linspace(-2.0, 3.0, len(CHARS)).roll(len(prompt))


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.5, None), (1.7, 4), (0.0, None), (1.0, 30)])
def test_distribution_shows_the_most_likely_characters_before_and_after(temperature, top_k):
    logits = logits_of("The ")
    got = next_char_distribution(reference_probs, logits, temperature, top_k, CHARS, num_bars=10)
    base = torch.softmax(logits.double(), -1).numpy()
    order = np.argsort(-base, kind="stable")[:10]
    after = reference_probs(logits[None], temperature, top_k)[0].numpy()
    assert got.labels == [("␣" if CHARS[i] == " " else CHARS[i]) for i in order]
    np.testing.assert_allclose(got.base, base[order], rtol=1e-6)
    np.testing.assert_allclose(got.probs, after[order], rtol=1e-6)
    np.testing.assert_allclose(got.entropy, entropy(after[after > 0]), rtol=1e-6, atol=1e-12)
    assert got.kept == int((after > 0).sum())
    assert np.all(np.diff(got.base) <= 0)                      # sorted by the original probability


def test_lower_temperature_means_lower_entropy():
    logits = logits_of("x")
    entropies = [next_char_distribution(reference_probs, logits, t, None, CHARS).entropy for t in (0.3, 1.0, 2.0)]
    assert entropies[0] < entropies[1] < entropies[2]


@pytest.mark.parametrize("bad", [lambda l, t, k: torch.softmax(l, -1) * 2, lambda l, t, k: torch.softmax(l, -1)[:, :5],
                                 lambda l, t, k: torch.softmax(l, -1) - 0.5])
def test_distribution_rejects_a_function_that_does_not_return_probabilities(bad):
    with pytest.raises(ValueError, match="probabilities summing to 1"):
        next_char_distribution(bad, logits_of("a"), 1.0, None, CHARS)


def test_distribution_rejects_logits_of_another_size():
    with pytest.raises(ValueError, match="characters"):
        next_char_distribution(reference_probs, torch.zeros(5), 1.0, None, CHARS)


def test_draw_sampling_draws_both_bar_sets_and_the_sample():
    import matplotlib.pyplot as plt
    distribution = next_char_distribution(reference_probs, logits_of("ab"), 0.7, 3, CHARS, num_bars=8)
    fig = plt.figure()
    draw_sampling(fig, distribution, "ab", "ab and then some", 0.7, 3)
    bars_ax, text_ax = fig.axes
    heights = [p.get_height() for p in bars_ax.patches]
    np.testing.assert_allclose(heights[:8], distribution.probs)
    np.testing.assert_allclose(heights[8:], distribution.base)
    assert bars_ax.get_ylim() == (0.0, 1.0) and bars_ax.get_ylabel() == "probability"
    assert "ab and then some" in text_ax.texts[0].get_text()
    plt.close(fig)


def test_explorer_builds_headless_and_regenerates_with_the_controls():
    calls = []

    def generate(prompt, temperature, top_k, seed):
        calls.append((prompt, temperature, top_k, seed))
        return prompt + " generated"

    widget = sampling_explorer(logits_of, reference_probs, generate, CHARS, prompt="The ")
    assert list(widget.values()) == ["temperature", "top_k", "seed", "prompt"]
    assert calls == [("The ", 1.0, None, 0)]
    before = [p.get_height() for p in widget.figure.axes[0].patches]
    widget.controls["temperature"].value = 0.3
    widget.controls["top_k"].value = 2
    assert calls[-1] == ("The ", 0.3, 2, 0)
    after = [p.get_height() for p in widget.figure.axes[0].patches]
    assert after != before and sum(h > 0 for h in after[:20]) == 2
    widget.controls["prompt"].value = "abc"
    assert "abc generated" in widget.figure.axes[1].texts[0].get_text()


def test_explorer_shows_a_bad_prompt_and_a_stub_on_the_figure():
    def logits_fn(prompt):
        if not prompt:
            raise ValueError("type at least one character")
        return logits_of(prompt)

    widget = sampling_explorer(logits_fn, reference_probs, lambda *args: "", CHARS)
    widget.controls["prompt"].value = ""
    assert "type at least one character" in widget.figure.axes[0].texts[0].get_text()

    def stub(logits, temperature, top_k):
        raise NotImplementedError("Write your solution here (see the docstring above).")

    widget = sampling_explorer(logits_of, stub, lambda *args: "", CHARS)
    assert "Not implemented yet" in widget.figure.axes[0].texts[0].get_text()
