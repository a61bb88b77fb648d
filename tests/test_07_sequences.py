"""Notebook 07_sequences: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is a complete student function with one classic mistake (or another
convention: CS231n's gate order, nn.MultiheadAttention's mask polarity, post-LN, ...); its grade
cell (visible and hidden checks) must fail with an AssertionError whose message names it. The
valid alternatives at the end (other vectorisations, other ways to draw or to mask) must pass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradecells import grade_cell_fails, graded_ids, notebook_namespace, run_grade_cell

NOTEBOOK = "07_sequences"
GRADE_IDS = ["check_rnn_step_forward", "check_rnn_step_backward", "check_rnn_forward", "check_rnn_backward",
             "check_embedding_affine", "check_temporal_softmax_loss", "check_clip_grad_norm",
             "check_lstm_step_forward", "check_lstm_step_backward", "check_lstm_forward", "check_lstm_backward",
             "check_causal_mask", "check_attention", "check_multi_head_attention", "check_positional_encoding",
             "check_transformer_block", "check_decoder_transformer", "check_perplexity", "check_next_token_probs",
             "check_sample_from_probs"]


def fails(grade_id, match, **overrides):
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


@pytest.fixture(scope="module")
def solution():
    """The names the solution notebook defines (setup, answer and given cells)."""
    return notebook_namespace(NOTEBOOK)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run_grade_cell(NOTEBOOK, grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)


# ------------------------------------------------------------------------ correct NumPy pieces to build mistakes from
def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def rnn_step(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_back(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward_with(step, carry=True, shift=False):
    def rnn_forward(x, h0, Wx, Wh, b):
        N, T, _ = x.shape
        h, caches, prev = np.zeros((N, T, h0.shape[1])), [], h0
        for t in range(T):
            new, cache = step(x[:, t], prev if carry else h0, Wx, Wh, b)
            h[:, t] = prev if shift else new
            prev = new
            caches.append(cache)
        return h, caches
    return rnn_forward


def rnn_backward_with(mistake):
    def rnn_backward(dh, caches):
        N, T, H = dh.shape
        dx = np.zeros((N, T, caches[0][0].shape[1]))
        dprev, sums = np.zeros((N, H)), [0.0, 0.0, 0.0]
        for t in reversed(range(T)):
            upstream = {"only last dh": (dh[:, t] if t == T - 1 else 0) + dprev,
                        "no flow back": dh[:, t]}.get(mistake, dh[:, t] + dprev)
            dx[:, t], dprev, *step_grads = rnn_step_back(upstream, caches[t])
            sums = step_grads if mistake == "not summed" else [s + g for s, g in zip(sums, step_grads)]
        return (dx, dprev, *sums)
    return rnn_backward


def lstm_step(x, prev_h, prev_c, Wx, Wh, b, order="ifgo", tanh_cell=True):
    a = x @ Wx + prev_h @ Wh + b
    blocks = dict(zip(order, np.split(a, 4, axis=1)))
    i, f, o, g = sigmoid(blocks["i"]), sigmoid(blocks["f"]), sigmoid(blocks["o"]), np.tanh(blocks["g"])
    next_c = f * prev_c + i * g
    next_h = o * (np.tanh(next_c) if tanh_cell else next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, g, o, np.tanh(next_c))


def lstm_step_back(dnext_h, dnext_c, cache, use_dnext_c=True):
    x, prev_h, prev_c, Wx, Wh, i, f, g, o, tanh_c = cache
    dc = (dnext_c if use_dnext_c else 0) + dnext_h * o * (1 - tanh_c ** 2)
    do = dnext_h * tanh_c
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dc * i * (1 - g ** 2), do * o * (1 - o)], 1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward_with(carry_c=True):
    def lstm_forward(x, h0, Wx, Wh, b):
        N, T, _ = x.shape
        h, caches, prev_h, prev_c = np.zeros((N, T, h0.shape[1])), [], h0, np.zeros_like(h0)
        for t in range(T):
            prev_h, new_c, cache = lstm_step(x[:, t], prev_h, prev_c, Wx, Wh, b)
            prev_c = new_c if carry_c else np.zeros_like(h0)
            h[:, t] = prev_h
            caches.append(cache)
        return h, caches
    return lstm_forward


def lstm_backward_with(mistake):
    def lstm_backward(dh, caches):
        N, T, H = dh.shape
        dx = np.zeros((N, T, caches[0][0].shape[1]))
        dprev_h, dprev_c, sums = np.zeros((N, H)), np.zeros((N, H)), [0.0, 0.0, 0.0]
        for t in reversed(range(T)):
            dnext_c = np.zeros((N, H)) if mistake == "cell not carried" else dprev_c
            dx[:, t], dprev_h, dprev_c, *step_grads = lstm_step_back(dh[:, t] + dprev_h, dnext_c, caches[t])
            sums = step_grads if mistake == "not summed" else [s + g for s, g in zip(sums, step_grads)]
        return (dx, dprev_h, *sums)
    return lstm_backward


# ------------------------------------------------------------------------ 1. vanilla RNN
def test_rnn_step_with_wh_transposed_is_named():
    fails("check_rnn_step_forward", "Wh transposed",
          rnn_step_forward=lambda x, h, Wx, Wh, b: rnn_step(x, h, Wx, Wh.T, b))


def test_rnn_step_ignoring_the_previous_state_is_named():
    fails("check_rnn_step_forward", "previous hidden state is ignored",
          rnn_step_forward=lambda x, h, Wx, Wh, b: rnn_step(x, 0 * h, Wx, Wh, b))


def test_rnn_step_without_bias_is_named():
    fails("check_rnn_step_forward", "bias b is missing",
          rnn_step_forward=lambda x, h, Wx, Wh, b: rnn_step(x, h, Wx, Wh, 0 * b))


def test_rnn_step_with_torch_is_named():
    def with_torch(x, prev_h, Wx, Wh, b):
        out = torch.tanh(torch.from_numpy(x @ Wx + prev_h @ Wh + b)).numpy()
        return out, (x, prev_h, Wx, Wh, out)
    fails("check_rnn_step_forward", "must be written by hand", rnn_step_forward=with_torch)


def test_rnn_step_changing_its_input_in_place_is_named():
    def in_place(x, prev_h, Wx, Wh, b):
        prev_h @= Wh
        prev_h += x @ Wx + b
        return np.tanh(prev_h), None
    fails("check_rnn_step_forward", "in place", rnn_step_forward=in_place)


def test_rnn_step_returning_float64_for_float32_inputs_is_named():
    fails("check_rnn_step_forward", "dtype float64",
          rnn_step_forward=lambda *args: (rnn_step(*args)[0].astype(np.float64), None))


def test_rnn_step_looping_over_the_batch_is_named():
    def per_row(x, prev_h, Wx, Wh, b):
        return np.stack([np.tanh(x[n] @ Wx + prev_h[n] @ Wh + b) for n in range(len(x))]), None
    fails("check_rnn_step_forward", "must not loop", rnn_step_forward=per_row)


def test_rnn_step_backward_with_untransposed_wh_is_named():
    def wrong(dnext_h, cache):
        dx, _, dWx, dWh, db = rnn_step_back(dnext_h, cache)
        x, prev_h, Wx, Wh, next_h = cache
        return dx, (dnext_h * (1 - next_h ** 2)) @ Wh, dWx, dWh, db
    fails("check_rnn_step_backward", r"dprev_h = da @ Wh.T \(the transpose of Wh\)", rnn_step_backward=wrong)


def test_rnn_step_backward_with_tanh_derivative_of_the_preactivation_fails():
    def wrong(dnext_h, cache):
        x, prev_h, Wx, Wh, next_h = cache
        a = x @ Wx + prev_h @ Wh
        da = dnext_h * (1 - a ** 2)
        return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(0)
    fails("check_rnn_step_backward", r"derivative of tanh at its OUTPUT", rnn_step_backward=wrong)


def test_rnn_step_backward_with_db_not_summed_is_named():
    def wrong(dnext_h, cache):
        dx, dprev, dWx, dWh, _ = rnn_step_back(dnext_h, cache)
        return dx, dprev, dWx, dWh, dnext_h * (1 - cache[4] ** 2)
    fails("check_rnn_step_backward", "wrong shape", rnn_step_backward=wrong)


def test_rnn_forward_not_carrying_the_state_is_named():
    fails("check_rnn_forward", "not carried between steps", rnn_forward=rnn_forward_with(rnn_step, carry=False))


def test_rnn_forward_storing_the_state_before_each_step_is_named():
    fails("check_rnn_forward", "BEFORE step t", rnn_forward=rnn_forward_with(rnn_step, shift=True))


def test_rnn_forward_looping_over_the_batch_too_is_named():
    def per_sequence(x, h0, Wx, Wh, b):
        outputs = [rnn_forward_with(rnn_step)(x[n:n + 1], h0[n:n + 1], Wx, Wh, b) for n in range(len(x))]
        return np.concatenate([h for h, _ in outputs]), [c for _, c in outputs]
    fails("check_rnn_forward", "one dimension only", rnn_forward=per_sequence)


def test_rnn_forward_fails_on_a_wrong_step_and_says_so():
    wrong_step = lambda x, h, Wx, Wh, b: rnn_step(x, h, Wx, Wh.T, b)
    fails("check_rnn_forward", "rnn_step_forward does not pass its own check",
          rnn_step_forward=wrong_step, rnn_forward=rnn_forward_with(wrong_step))


@pytest.mark.parametrize("mistake, message", [("not summed", "SUMMED over time"),
                                              ("only last dh", r"only dh\[:, T-1\] was used"),
                                              ("no flow back", "does not flow back through time")])
def test_rnn_backward_mistakes_are_named(mistake, message):
    fails("check_rnn_backward", message, rnn_forward=rnn_forward_with(rnn_step), rnn_backward=rnn_backward_with(mistake))


def test_rnn_backward_behind_a_wrong_forward_says_to_fix_the_forward():
    fails("check_rnn_backward", "make its check above pass first",
          rnn_forward=rnn_forward_with(rnn_step, carry=False), rnn_backward=rnn_backward_with(None))


# ------------------------------------------------------------------------ 2. embedding, temporal affine, loss
def test_embedding_backward_with_buffered_fancy_indexing_is_named():
    def buffered(dout, cache):
        x, shape = cache
        dW = np.zeros(shape)
        dW[x] += dout
        return dW
    fails("check_embedding_affine", "np.add.at", word_embedding_backward=buffered)


def test_temporal_affine_dw_from_the_last_step_only_fails():
    def last_step(dout, cache):
        x, w = cache
        return dout @ w.T, x[:, -1].T @ dout[:, -1], dout.sum(axis=(0, 1))
    fails("check_embedding_affine", "dw sums", temporal_affine_backward=last_step)


def temporal_loss(mistake):
    def loss_fn(x, y, mask):
        N, T, V = x.shape
        shifted = x if mistake == "no shift" else x - x.max(axis=2, keepdims=True)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            probs = np.exp(shifted) / np.exp(shifted).sum(axis=2, keepdims=True)
            log_p = np.log(probs[np.arange(N)[:, None], np.arange(T)[None], y])
        weights = np.ones_like(mask, dtype=float) if mistake == "padding counted" else mask.astype(float)
        divisor = {"per token": mask.sum(), "N*T": N * T}.get(mistake, N)
        dx = probs.copy()
        dx[np.arange(N)[:, None], np.arange(T)[None], y] -= 1
        dx *= (np.ones_like(weights) if mistake == "dx unmasked" else weights)[:, :, None] / divisor
        return -(log_p * weights).sum() / divisor, dx
    return loss_fn


@pytest.mark.parametrize("mistake, message", [("padding counted", "padding is counted"),
                                              ("per token", "number of real tokens"),
                                              ("N*T", r"divided by N \* T"),
                                              ("no shift", "non-finite"),
                                              ("dx unmasked", "padding gets gradient")])
def test_temporal_softmax_loss_mistakes_are_named(mistake, message):
    fails("check_temporal_softmax_loss", message, temporal_softmax_loss=temporal_loss(mistake))


def test_temporal_softmax_loss_shifting_x_in_place_is_named():
    def in_place(x, y, mask):
        x -= x.max(axis=2, keepdims=True)
        return temporal_loss(None)(x, y, mask)
    fails("check_temporal_softmax_loss", "in place", temporal_softmax_loss=in_place)


# ------------------------------------------------------------------------ 3. clipping
def clip(mistake):
    def clip_fn(grads, max_norm):
        squares = sum(np.sum(g ** 2) for g in grads.values())
        norm = squares if mistake == "no sqrt" else np.sqrt(squares)
        if mistake == "per array":
            return {k: g * min(1.0, max_norm / max(np.linalg.norm(g), 1e-300)) for k, g in grads.items()}, float(norm)
        scale = max_norm / norm if (norm > max_norm or mistake == "always") and norm > 0 else 1.0
        if mistake == "in place":
            for g in grads.values():
                g *= scale
            return dict(grads), float(norm)
        return {k: g * scale for k, g in grads.items()}, float(min(norm, max_norm) if mistake == "after" else norm)
    return clip_fn


@pytest.mark.parametrize("mistake, message", [("no sqrt", "SUM OF SQUARES"), ("per array", "its own norm"),
                                              ("always", "below the threshold were rescaled"),
                                              ("in place", "in place"), ("after", "norm AFTER clipping")])
def test_clip_grad_norm_mistakes_are_named(mistake, message):
    fails("check_clip_grad_norm", message, clip_grad_norm=clip(mistake))


# ------------------------------------------------------------------------ 4. LSTM
def test_lstm_step_in_cs231n_gate_order_is_named():
    fails("check_lstm_step_forward", "CS231n's order i, f, o, g",
          lstm_step_forward=lambda *args: lstm_step(*args, order="ifog"))


def test_lstm_step_without_tanh_on_the_cell_is_named():
    fails("check_lstm_step_forward", "missing the tanh", lstm_step_forward=lambda *args: lstm_step(*args, tanh_cell=False))


def test_lstm_step_backward_ignoring_dnext_c_is_named():
    fails("check_lstm_step_backward", "dnext_c, is ignored",
          lstm_step_backward=lambda dh, dc, cache: lstm_step_back(dh, dc, cache, use_dnext_c=False))


def test_lstm_forward_not_carrying_the_cell_is_named():
    fails("check_lstm_forward", "cell state is not carried", lstm_forward=lstm_forward_with(carry_c=False))


@pytest.mark.parametrize("mistake, message", [("not summed", "SUMMED over time"),
                                              ("cell not carried", "cell gradient does not flow back")])
def test_lstm_backward_mistakes_are_named(mistake, message):
    fails("check_lstm_backward", message, lstm_forward=lstm_forward_with(), lstm_backward=lstm_backward_with(mistake))


# ------------------------------------------------------------------------ 5. attention
@pytest.mark.parametrize("make, message", [(lambda T: torch.ones(T, T, dtype=torch.bool).triu(), "wrong triangle"),
                                           (lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), "diagonal is missing"),
                                           (lambda T: torch.ones(T, T, dtype=torch.bool).triu(1), "polarity is inverted"),
                                           (lambda T: torch.ones(T, T).tril(), "dtype float32")])
def test_causal_mask_mistakes_are_named(make, message):
    fails("check_causal_mask", message, causal_mask=lambda T, device=None: make(T))


def test_causal_mask_ignoring_its_device_is_named():
    fails("check_causal_mask", "on the device it is given",
          causal_mask=lambda T, device=None: torch.ones(T, T, dtype=torch.bool).tril())


def attention(scale="sqrt_dk", fill=float("-inf"), invert=False, use_mask=True, axis=-1, after=False):
    def attend(q, k, v, mask=None):
        d = {"sqrt_dk": math.sqrt(q.shape[-1]), "none": 1.0, "sqrt_dv": math.sqrt(v.shape[-1]), "dk": q.shape[-1]}[scale]
        scores = q @ k.transpose(-2, -1) / d
        if mask is not None and use_mask and not after:
            scores = scores.masked_fill(mask if invert else ~mask, fill)
        weights = torch.softmax(scores, dim=axis)
        if mask is not None and after:
            weights = weights * mask
        return weights @ v, weights
    return attend


@pytest.mark.parametrize("kwargs, message", [
    (dict(scale="none"), r"not divided by sqrt\(d_k\)"),
    (dict(scale="sqrt_dv"), "VALUE dimension"),
    (dict(scale="dk"), r"divided by d_k = 2 instead of sqrt\(d_k\)"),
    (dict(invert=True), "polarity is inverted"),
    (dict(invert=True, fill=-1e9), "polarity is inverted"),
    (dict(use_mask=False), "mask is ignored"),
    (dict(axis=-2), "over the queries"),
    (dict(after=True), "AFTER the softmax"),
])
def test_attention_mistakes_are_named(kwargs, message):
    fails("check_attention", message, scaled_dot_product_attention=attention(**kwargs))


def test_attention_built_on_torchs_is_named():
    def torchs(q, k, v, mask=None):
        weights = torch.softmax((q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(
            ~mask if mask is not None else torch.zeros((), dtype=torch.bool), float("-inf")), -1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights
    fails("check_attention", "calls torch's attention", scaled_dot_product_attention=torchs)


def mha_class(solution, mistake):
    base = solution["MultiHeadAttention"]

    class WrongMHA(base):
        def forward(self, x, mask=None):
            N, T, _ = x.shape
            if mistake == "no transpose":
                split = lambda p: p.reshape(N, self.num_heads, T, self.d_head)
            else:
                split = lambda p: p.reshape(N, T, self.num_heads, self.d_head).transpose(1, 2)
            if mistake == "loop over heads":
                outs, weights = [], []
                for h in range(self.num_heads):
                    cols = slice(h * self.d_head, (h + 1) * self.d_head)
                    o, w = self.attention(self.q_proj(x)[..., cols], self.k_proj(x)[..., cols],
                                          self.v_proj(x)[..., cols], mask)
                    outs.append(o)
                    weights.append(w)
                return self.out_proj(torch.cat(outs, -1)), torch.stack(weights, 1)
            q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
            heads, weights = self.attention(q, k, v, ~mask if mistake == "flip" and mask is not None else mask)
            merged = heads.transpose(1, 2).reshape(N, T, self.d_model)
            return (merged if mistake == "no out_proj" else self.out_proj(merged)), weights
    return WrongMHA


@pytest.mark.parametrize("mistake, message", [("no out_proj", "out_proj is missing"), ("no transpose", "THEN transpose"),
                                              ("flip", "mask is flipped"), ("loop over heads", "must not loop")])
def test_multi_head_attention_mistakes_are_named(solution, mistake, message):
    fails("check_multi_head_attention", message, MultiHeadAttention=mha_class(solution, mistake))


def test_multi_head_attention_calling_the_oracle_is_named(solution):
    class Copycat(solution["MultiHeadAttention"]):
        def forward(self, x, mask=None):
            return run_torch_mha(torch_mha_like(self), x, mask)
    namespace = notebook_namespace(NOTEBOOK)
    run_torch_mha, torch_mha_like = namespace["run_torch_mha"], namespace["torch_mha_like"]
    fails("check_multi_head_attention", "the oracle of its check", MultiHeadAttention=Copycat)


def test_transformer_block_calling_the_oracle_is_named(solution):
    class Copycat(solution["TransformerBlock"]):
        def forward(self, x, mask=None):
            layer = solution["torch_block_like"](self, self.attn)
            return layer(x, src_mask=None if mask is None else ~mask), self.attn(self.ln1(x), mask)[1]
    fails("check_transformer_block", "the oracle of its check", TransformerBlock=Copycat)


def positional(mistake):
    def pe(T, d_model):
        t = torch.arange(T, dtype=torch.float64)[:, None]
        c = torch.arange(d_model, dtype=torch.float64)
        pair = {"column": c, "half": c // 2}.get(mistake, c - c % 2)
        angles = t / 10000 ** (pair / d_model)
        even = (c % 2 == 0) if mistake != "swapped" else (c % 2 == 1)
        out = torch.where(even, torch.sin(angles), torch.cos(angles))
        if mistake == "halves":
            half = (d_model + 1) // 2
            m = torch.arange(d_model) % half
            a = t / 10000 ** (2 * m / d_model)
            out = torch.where(torch.arange(d_model) < half, torch.sin(a), torch.cos(a))
        return out.double() if mistake == "float64" else out.float()
    return pe


@pytest.mark.parametrize("mistake, message", [("swapped", "swapped"), ("column", "column index c"),
                                              ("half", "m / d_model"), ("halves", "all sines come first"),
                                              ("float64", "dtype float64")])
def test_positional_encoding_mistakes_are_named(mistake, message):
    fails("check_positional_encoding", message, positional_encoding=positional(mistake))


def block_class(solution, mistake):
    base = solution["TransformerBlock"]

    class WrongBlock(base):
        def __init__(self, d_model, num_heads, d_ff):
            super().__init__(d_model, num_heads, d_ff)
            if mistake == "relu":
                self.mlp[1] = nn.ReLU()

        def forward(self, x, mask=None):
            if mistake == "post-ln":
                attended, weights = self.attn(x, mask)
                x = self.ln1(x + attended)
                return self.ln2(x + self.mlp(x)), weights
            attended, weights = self.attn(self.ln1(x), None if mistake == "no mask" else mask)
            x = x + attended
            return x + self.mlp(self.ln2(x)), weights
    return WrongBlock


@pytest.mark.parametrize("mistake, message", [("post-ln", "POST-LN"), ("relu", "ReLU"),
                                              ("no mask", "mask is not passed")])
def test_transformer_block_mistakes_are_named(solution, mistake, message):
    fails("check_transformer_block", message, TransformerBlock=block_class(solution, mistake))


def test_transformer_block_with_other_layer_names_is_named(solution):
    class Renamed(nn.Module):
        def __init__(self, d_model, num_heads, d_ff):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.attention = solution["MultiHeadAttention"](d_model, num_heads)
            self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
    fails("check_transformer_block", "has no attribute 'ln1'", TransformerBlock=Renamed)


def decoder_class(solution, mistake):
    base = solution["DecoderTransformer"]

    class WrongDecoder(base):
        def forward(self, ids, return_attention=False):
            T = ids.shape[1]
            if T > self.max_len and mistake != "no length check":
                raise ValueError("too long")
            x = self.token_embedding(ids) * (math.sqrt(self.token_embedding.embedding_dim) if mistake == "scaled" else 1)
            if mistake != "no positions":
                x = x + self.positions[:T]
            maps = []
            for block in self.blocks:
                x, w = block(x, None if mistake == "no mask" else self.mask[:T, :T])
                maps.append(w)
            logits = self.head(x if mistake == "no final ln" else self.ln_final(x))
            return (logits, maps) if return_attention else logits
    return WrongDecoder


@pytest.mark.parametrize("mistake, message", [("no mask", "causal mask is not used"),
                                              ("no positions", "positional encodings are not added"),
                                              ("no final ln", "final LayerNorm is missing"),
                                              ("scaled", r"sqrt\(d_model\)"),
                                              ("no length check", "longer than max_len")])
def test_decoder_transformer_mistakes_are_named(solution, mistake, message):
    fails("check_decoder_transformer", message, DecoderTransformer=decoder_class(solution, mistake))


# ------------------------------------------------------------------------ 7. perplexity and sampling
@pytest.mark.parametrize("wrong, message", [
    (lambda logits, y: 2.0 ** F.cross_entropy(logits.flatten(0, 1), y.flatten()).item(), r"2 \*\* NLL"),
    (lambda logits, y: F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1).exp().mean().item(),
     "per-sequence perplexities"),
    (lambda logits, y: 1 / torch.softmax(logits, -1).gather(-1, y[..., None]).mean().item(), "GEOMETRIC"),
    (lambda logits, y: math.exp(-torch.log(torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True))
                                .gather(-1, y[..., None]).mean().item()), "non-finite|does not match"),
])
def test_perplexity_mistakes_are_named(wrong, message):
    fails("check_perplexity", message, perplexity=wrong)


def probs_fn(mistake):
    def next_probs(logits, temperature=1.0, top_k=None):
        if temperature < 0 and mistake != "no errors":
            raise ValueError("negative temperature")
        if top_k is not None and top_k < 1 and mistake != "no errors":
            raise ValueError("top_k < 1")
        if temperature == 0 and mistake != "divide by zero":
            return F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
        with np.errstate(all="ignore"):
            scaled = logits * temperature if mistake == "multiply" else logits / temperature
        if top_k is not None and top_k < logits.shape[-1]:
            if mistake == "smallest":
                keep = scaled <= (-scaled).topk(top_k, -1).values[:, -1:].neg()
            elif mistake == "exactly k":
                keep = torch.zeros_like(scaled, dtype=torch.bool).scatter(-1, scaled.topk(top_k, -1).indices, True)
            else:
                keep = scaled >= scaled.topk(top_k, -1).values[:, -1:]
            if mistake == "not renormalised":
                return torch.softmax(scaled, -1) * keep
            scaled = scaled.masked_fill(~keep, float("-inf"))
        return torch.softmax(scaled, -1)
    return next_probs


@pytest.mark.parametrize("mistake, message", [("multiply", "MULTIPLIED by the temperature"),
                                              ("smallest", "k SMALLEST"), ("not renormalised", "not renormalised"),
                                              ("exactly k", "EVERY logit >= the k-th"),
                                              ("divide by zero", "non-finite"),
                                              ("no errors", "must raise a ValueError")])
def test_next_token_probs_mistakes_are_named(mistake, message):
    fails("check_next_token_probs", message, next_token_probs=probs_fn(mistake))


@pytest.mark.parametrize("wrong, message", [
    (lambda probs, generator=None: probs.argmax(-1), "argmax, not a random draw"),
    (lambda probs, generator=None: torch.multinomial(probs, 1)[:, 0], "seeded alike gave different draws"),
    (lambda probs, generator=None: torch.multinomial(probs[:1].expand_as(probs), 1, generator=generator)[:, 0],
     "probability 0|do not follow its probabilities"),
    (lambda probs, generator=None: torch.multinomial(probs, 1, generator=generator), "wrong shape"),
    (lambda probs, generator=None: torch.multinomial(probs, 1, generator=generator)[:, 0].int(), "dtype int32"),
])
def test_sample_from_probs_mistakes_are_named(wrong, message):
    fails("check_sample_from_probs", message, sample_from_probs=wrong)


# ------------------------------------------------------------------------ valid alternatives
def test_einsum_rnn_and_forward_order_bptt_pass():
    def step(x, prev_h, Wx, Wh, b):
        next_h = np.tanh(np.einsum("nd,dh->nh", x, Wx) + np.einsum("nk,kh->nh", prev_h, Wh) + b)
        return next_h, {"x": x, "h": prev_h, "Wx": Wx, "Wh": Wh, "out": next_h}

    def step_back(dnext_h, c):
        da = dnext_h * (1 - c["out"] * c["out"])
        return (np.einsum("nh,dh->nd", da, c["Wx"]), np.einsum("nh,kh->nk", da, c["Wh"]),
                np.einsum("nd,nh->dh", c["x"], da), np.einsum("nk,nh->kh", c["h"], da), np.einsum("nh->h", da))

    run_grade_cell(NOTEBOOK, "check_rnn_step_forward", rnn_step_forward=step)
    run_grade_cell(NOTEBOOK, "check_rnn_step_backward", rnn_step_forward=step, rnn_step_backward=step_back)

    def forward(x, h0, Wx, Wh, b):            # states collected in a list, stacked at the end
        states, caches = [h0], []
        for t in range(x.shape[1]):
            h, cache = step(x[:, t], states[-1], Wx, Wh, b)
            states.append(h)
            caches.append(cache)
        return np.stack(states[1:], axis=1), caches

    def backward(dh, caches):                 # per-step gradients stored, summed at the end
        dprev, per_step, dxs = 0.0, [], []
        for t in range(dh.shape[1] - 1, -1, -1):
            dx, dprev, *grads = step_back(dh[:, t] + dprev, caches[t])
            dxs.insert(0, dx)
            per_step.append(grads)
        return (np.stack(dxs, 1), dprev, *[np.sum(g, axis=0) for g in zip(*per_step)])

    run_grade_cell(NOTEBOOK, "check_rnn_forward", rnn_step_forward=step, rnn_forward=forward)
    run_grade_cell(NOTEBOOK, "check_rnn_backward", rnn_forward=forward, rnn_backward=backward)


def test_one_hot_embedding_backward_and_logsumexp_loss_pass():
    def embedding_backward(dout, cache):
        x, shape = cache
        one_hot = np.eye(shape[0])[x.reshape(-1)]                    # (N*T, V)
        return one_hot.T @ dout.reshape(-1, shape[1])

    def loss(x, y, mask):
        from scipy.special import log_softmax
        log_p = log_softmax(x, axis=2)
        picked = np.take_along_axis(log_p, y[..., None], 2)[..., 0]
        dx = np.exp(log_p) - np.eye(x.shape[2])[y]
        return -np.where(mask, picked, 0).sum() / x.shape[0], dx * mask[..., None] / x.shape[0]

    run_grade_cell(NOTEBOOK, "check_embedding_affine", word_embedding_backward=embedding_backward)
    run_grade_cell(NOTEBOOK, "check_temporal_softmax_loss", temporal_softmax_loss=loss)


def test_clipping_with_one_concatenated_norm_passes():
    def clip_grad_norm(grads, max_norm):
        norm = float(np.linalg.norm(np.concatenate([g.ravel() for g in grads.values()])))
        factor = min(1.0, max_norm / norm) if norm > 0 else 1.0
        return {k: v * factor for k, v in grads.items()}, norm
    run_grade_cell(NOTEBOOK, "check_clip_grad_norm", clip_grad_norm=clip_grad_norm)


def test_lstm_with_one_product_per_gate_passes():
    def step(x, prev_h, prev_c, Wx, Wh, b):
        H = prev_h.shape[1]
        gate = lambda k: x @ Wx[:, k * H:(k + 1) * H] + prev_h @ Wh[:, k * H:(k + 1) * H] + b[k * H:(k + 1) * H]
        i, f, g, o = sigmoid(gate(0)), sigmoid(gate(1)), np.tanh(gate(2)), sigmoid(gate(3))
        next_c = f * prev_c + i * g
        return o * np.tanh(next_c), next_c, (x, prev_h, prev_c, Wx, Wh, i, f, g, o, np.tanh(next_c))
    run_grade_cell(NOTEBOOK, "check_lstm_step_forward", lstm_step_forward=step)
    run_grade_cell(NOTEBOOK, "check_lstm_step_backward", lstm_step_forward=step)


def test_comparison_mask_finite_fill_einsum_attention_and_stacked_positions_pass():
    def mask(T, device=None):
        positions = torch.arange(T, device=device)
        return positions[None, :] <= positions[:, None]

    def attend(q, k, v, mask=None):
        scores = torch.einsum("...qd,...kd->...qk", q, k) / q.shape[-1] ** 0.5
        if mask is not None:
            scores = torch.where(mask, scores, torch.tensor(-1e9, dtype=scores.dtype))
        weights = scores.softmax(-1)
        return torch.einsum("...qk,...kd->...qd", weights, v), weights

    def pe(T, d_model):
        angles = torch.arange(T)[:, None] / 10000 ** (torch.arange(0, d_model, 2) / d_model)
        both = torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(T, -1)
        return both[:, :d_model].float()

    run_grade_cell(NOTEBOOK, "check_causal_mask", causal_mask=mask)
    run_grade_cell(NOTEBOOK, "check_attention", scaled_dot_product_attention=attend)
    run_grade_cell(NOTEBOOK, "check_positional_encoding", positional_encoding=pe)


def test_sorted_top_k_and_inverse_cdf_sampling_pass():
    def next_probs(logits, temperature=1.0, top_k=None):
        if temperature < 0 or (top_k is not None and top_k < 1):
            raise ValueError("bad arguments")
        if temperature == 0:
            out = torch.zeros_like(logits)
            out[torch.arange(len(logits)), logits.argmax(-1)] = 1
            return out
        scaled = logits / temperature
        if top_k:
            threshold = scaled.sort(-1, descending=True).values[:, min(top_k, scaled.shape[-1]) - 1:][:, :1]
            scaled = torch.where(scaled >= threshold, scaled, torch.tensor(float("-inf"), dtype=scaled.dtype))
        weights = (scaled - scaled.max(-1, keepdim=True).values).exp()
        return weights / weights.sum(-1, keepdim=True)

    def inverse_cdf(probs, generator=None):
        u = torch.rand(probs.shape[0], 1, generator=generator, dtype=probs.dtype)
        return (probs.cumsum(-1) < u).sum(-1).clamp(max=probs.shape[-1] - 1).long()

    def perplexity(logits, targets):
        return math.exp(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item())

    run_grade_cell(NOTEBOOK, "check_next_token_probs", next_token_probs=next_probs)
    run_grade_cell(NOTEBOOK, "check_sample_from_probs", sample_from_probs=inverse_cdf)
    run_grade_cell(NOTEBOOK, "check_perplexity", perplexity=perplexity)


def test_transformer_pieces_pass_with_the_reference_modules_swapped_in(solution):
    """The decoder's check swaps in torch's blocks: a correct decoder passes even with a broken block."""
    fails_block = block_class(solution, "post-ln")
    run_grade_cell(NOTEBOOK, "check_decoder_transformer", TransformerBlock=fails_block)
