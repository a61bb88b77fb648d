"""Sampling explorer (07_sequences): temperature and top-k reshape the next-character distribution.

The model, the distribution and the sampler come from functions the notebook passes in (the
student's trained model and their `next_token_probs`), so this module holds no solution:

- `next_char_distribution(probs_fn, logits, temperature, top_k, chars)`: the most likely next
  characters with their probabilities before (temperature 1, no top-k) and after the change,
  and the entropy of the new distribution;
- `draw_sampling(fig, ...)`: those as bars, and a text generated with the same settings;
- `sampling_explorer(logits_fn, probs_fn, generate_fn, chars)`: the widget.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

from dlcourse.widgets.attention import display_chars


@dataclass
class NextCharDistribution:
    """What `next_char_distribution` computes, for the num_bars characters most likely at temperature 1.

    labels: their display forms (space as ␣, newline as ⏎); base: (num_bars,) their probabilities
    at temperature 1 without top-k; probs: (num_bars,) after temperature and top-k;
    entropy: of the whole new distribution, in nats; kept: how many characters have probability > 0.
    """

    labels: list[str]
    base: np.ndarray
    probs: np.ndarray
    entropy: float
    kept: int


def _row(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64).reshape(-1)


def next_char_distribution(probs_fn: Callable, logits: Any, temperature: float, top_k: int | None,
                           chars: Sequence[str], num_bars: int = 20) -> NextCharDistribution:
    """The next-character distribution after `probs_fn` applied temperature and top-k.

    probs_fn(logits (1, V) float32 tensor, temperature, top_k) -> (1, V) probabilities;
    logits: (V,) the model's scores for the next character; chars: the V characters.
    top_k: None or 0 for no top-k. Raises ValueError when probs_fn's output is not a
    distribution over V characters (wrong shape, negative, or not summing to 1).
    """
    import torch

    scores = torch.as_tensor(_row(logits), dtype=torch.float32)[None]
    if scores.shape[1] != len(chars):
        raise ValueError(f"logits have {scores.shape[1]} entries but there are {len(chars)} characters")
    base = _row(torch.softmax(scores.double(), dim=-1))
    probs = _row(probs_fn(scores, temperature, top_k or None))
    if probs.shape != base.shape or (probs < -1e-6).any() or abs(probs.sum() - 1) > 1e-3:
        raise ValueError(f"probs_fn returned {probs.size} values summing to {probs.sum():.4f}: "
                         f"expected {base.size} probabilities summing to 1")
    order = np.argsort(-base, kind="stable")[:num_bars]
    positive = probs[probs > 0]
    return NextCharDistribution(labels=display_chars("".join(chars[i] for i in order)), base=base[order],
                                probs=probs[order], entropy=float(-(positive * np.log(positive)).sum()),
                                kept=int((probs > 0).sum()))


def draw_sampling(fig: Figure, distribution: NextCharDistribution, prompt: str, sample: str, temperature: float,
                  top_k: int | None) -> None:
    """Two panels: the next-character bars (before as outlines, after filled) and a generated text."""
    bars_ax, text_ax = fig.subplots(2, 1, height_ratios=[1.3, 1])
    x = np.arange(len(distribution.labels))
    bars_ax.bar(x, distribution.probs, color="tab:blue", label=f"T = {temperature:g}, top-k = {top_k or 'off'}")
    bars_ax.bar(x, distribution.base, fill=False, edgecolor="black", linewidth=0.8, label="T = 1, no top-k")
    bars_ax.set_xticks(x, distribution.labels)
    bars_ax.set_ylim(0, 1)
    bars_ax.set_xlabel(f"next character (the {len(x)} most likely at T = 1)")
    bars_ax.set_ylabel("probability")
    context = "".join(display_chars(prompt[-20:]))
    bars_ax.set_title(f"after '{context}': entropy {distribution.entropy:.2f} nats, "
                      f"{distribution.kept} characters possible", fontsize=10)
    bars_ax.legend(fontsize=8, loc="upper right")
    text_ax.axis("off")
    shown = "\n".join(textwrap.wrap(sample.replace("\n", " ⏎ "), width=70)[:8])
    text_ax.text(0.0, 1.0, shown, family="monospace", fontsize=8.5, va="top", ha="left", transform=text_ax.transAxes)
    text_ax.set_title("a sample with these settings (prompt, then generated text)", fontsize=10, loc="left")
    fig.tight_layout()


def sampling_explorer(logits_fn: Callable[[str], Any], probs_fn: Callable, generate_fn: Callable[..., str],
                      chars: Sequence[str], prompt: str = "The ", figsize: tuple[float, float] = (8.5, 5.2)):
    """A widget: temperature and top-k sliders reshape the next-character bars and regenerate a text.

    logits_fn(prompt) -> (V,) next-character logits; probs_fn as in `next_char_distribution`;
    generate_fn(prompt, temperature, top_k, seed) -> the prompt followed by generated text;
    chars: the V characters. A ValueError from logits_fn (a character not in the vocabulary) is
    shown on the figure. Returns the ipywidgets box of `interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    controls = {
        "temperature": w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, description="temperature"),
        "top_k": w.IntSlider(value=0, min=0, max=len(chars), description="top-k (0: off)"),
        "seed": w.IntSlider(value=0, min=0, max=20, description="seed"),
        "prompt": w.Text(value=prompt, description="prompt", continuous_update=False),
    }

    def draw(fig, temperature, top_k, seed, prompt):
        try:
            logits = logits_fn(prompt)
        except ValueError as error:
            ax = fig.add_subplot()
            ax.axis("off")
            ax.text(0.5, 0.5, f"Cannot use this prompt:\n{error}", ha="center", va="center", wrap=True,
                    transform=ax.transAxes)
            return
        distribution = next_char_distribution(probs_fn, logits, temperature, top_k, chars)
        draw_sampling(fig, distribution, prompt, generate_fn(prompt, temperature, top_k or None, seed),
                      temperature, top_k)

    return interactive_figure(draw, controls, figsize=figsize)
