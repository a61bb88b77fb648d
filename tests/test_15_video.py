"""Notebook 15_video: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is a whole function (or class) with one classic mistake (or another
convention); its grade cell (visible and hidden checks) must fail with an AssertionError whose
message names it. Valid alternatives (another vectorization, a loop where loops are allowed,
another way to write the same thing) must pass.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradecells import grade_cell_fails, graded_ids, notebook_namespace, run_grade_cell

NOTEBOOK = "15_video"
GRADE_IDS = ["check_apply_per_frame", "check_combine_frames", "check_stack_frames", "check_conv3d_by_frames",
             "check_count_conv3d", "check_inflate_conv2d", "check_cnn_recurrent", "check_frame_differences",
             "check_nonlocal_block"]


@pytest.fixture(scope="module")
def solution():
    """The solution's functions (setup, answer and given cells)."""
    return notebook_namespace(NOTEBOOK)


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


def fails(grade_id, match, **overrides):
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)
    assert set(graded_ids(NOTEBOOK, "markdown")) == {"q_flow", "q_order", "q_fusion"}


# ------------------------------------------------------------------------ apply_per_frame
def test_reshape_without_permute_is_named():
    def wrong(model, videos):
        n, c, t, h, w = videos.shape
        out = model(videos.reshape(n * t, c, h, w))
        return out.reshape(n, t, *out.shape[1:])
    fails("check_apply_per_frame", "without moving the time axis", apply_per_frame=wrong)


def test_time_major_folding_is_named():
    def wrong(model, videos):
        n, c, t, h, w = videos.shape
        out = model(videos.permute(2, 0, 1, 3, 4).reshape(t * n, c, h, w))
        return out.reshape(n, t, *out.shape[1:])
    fails("check_apply_per_frame", "time-major", apply_per_frame=wrong)


def test_frames_left_folded_fail_on_the_shape():
    def wrong(model, videos):
        n, c, t, h, w = videos.shape
        return model(videos.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w))
    fails("check_apply_per_frame", "wrong shape", apply_per_frame=wrong)


def test_per_frame_changing_the_videos_is_named(solution):
    right = solution["apply_per_frame"]

    def in_place(model, videos):
        out = right(model, videos)
        videos.mul_(0.5)
        return out
    fails("check_apply_per_frame", "in place", apply_per_frame=in_place)


def test_per_frame_as_a_loop_over_frames_passes():
    def loop(model, videos):
        return torch.stack([model(videos[:, :, t]) for t in range(videos.shape[2])], dim=1)
    run("check_apply_per_frame", apply_per_frame=loop)


def test_per_frame_with_movedim_and_flatten_passes():
    def movedim(model, videos):
        out = model(videos.movedim(2, 1).flatten(0, 1))
        return out.unflatten(0, videos.shape[:1] + videos.shape[2:3])
    run("check_apply_per_frame", apply_per_frame=movedim)


# ------------------------------------------------------------------------ averaging and late fusion
def test_softmax_of_mean_logits_is_named():
    fails("check_combine_frames", "softmax of the mean logits",
          average_frame_probabilities=lambda logits: torch.softmax(logits.mean(dim=1), dim=-1))


def test_mean_of_logits_is_named():
    fails("check_combine_frames", "averages the logits", average_frame_probabilities=lambda logits: logits.mean(dim=1))


def test_softmax_over_frames_is_named():
    fails("check_combine_frames", "runs over the frames",
          average_frame_probabilities=lambda logits: torch.softmax(logits, dim=1).mean(dim=1))


def test_most_confident_frame_is_named():
    fails("check_combine_frames", r"max over t",
          average_frame_probabilities=lambda logits: torch.softmax(logits, dim=-1).amax(dim=1))


def test_softmax_without_max_shift_overflows():
    def unstable(logits):
        exps = torch.exp(logits)
        return (exps / exps.sum(dim=-1, keepdim=True)).mean(dim=1)
    fails("check_combine_frames", "non-finite", average_frame_probabilities=unstable)


def test_average_written_with_logsumexp_passes():
    def by_hand(logits):
        return torch.exp(logits - torch.logsumexp(logits, dim=-1, keepdim=True)).sum(dim=1) / logits.shape[1]
    run("check_combine_frames", average_frame_probabilities=by_hand)


def test_late_fusion_averaging_scores_is_named():
    def wrong(features, head):
        n, t, d = features.shape
        return head(features.reshape(n * t, d)).reshape(n, t, -1).mean(dim=1)
    fails("check_combine_frames", "averages the per-frame scores", late_fusion_logits=wrong)


def test_late_fusion_summing_is_named():
    fails("check_combine_frames", "summed over time", late_fusion_logits=lambda features, head: head(features.sum(1)))


def test_late_fusion_max_pooling_is_named():
    fails("check_combine_frames", "max-pooled",
          late_fusion_logits=lambda features, head: head(features.max(dim=1).values))


def test_late_fusion_last_frame_is_named():
    fails("check_combine_frames", "last frame", late_fusion_logits=lambda features, head: head(features[:, -1]))


def test_late_fusion_sum_divided_by_t_passes():
    run("check_combine_frames", late_fusion_logits=lambda features, head: head(features.sum(1) / features.shape[1]))


# ------------------------------------------------------------------------ early fusion
def test_frame_major_stacking_is_named():
    def wrong(videos):
        n, c, t, h, w = videos.shape
        return videos.transpose(1, 2).reshape(n, t * c, h, w)
    fails("check_stack_frames", "frame-major", stack_frames=wrong)


def test_averaging_the_frames_fails_on_the_shape():
    fails("check_stack_frames", "keep every frame", stack_frames=lambda videos: videos.mean(dim=2))


def test_stacking_with_flatten_or_cat_passes():
    run("check_stack_frames", stack_frames=lambda videos: videos.flatten(1, 2))
    run("check_stack_frames", stack_frames=lambda videos: torch.cat([videos[:, c] for c in range(videos.shape[1])], 1))


# ------------------------------------------------------------------------ 3-D convolution
def conv3d_variant(*, flip=False, pad_time=True, stride_time=True, start_at_i=False, bias_per_step=False,
                   spatial=True, dtype=None):
    def conv3d(x, weight, bias, stride=(1, 1, 1), padding=(0, 0, 0)):
        (st, sh, sw), (pt, ph, pw) = stride, padding
        kt = weight.shape[2]
        if flip:
            weight = weight.flip(2)
        if pad_time:
            x = F.pad(x, (0, 0, 0, 0, pt, pt))
        step = st if stride_time else 1
        steps = (x.shape[2] - kt) // st + 1 if start_at_i else (x.shape[2] - kt) // step + 1
        outputs = []
        for i in range(steps):
            out = 0
            for d in range(kt):
                out = out + F.conv2d(x[:, :, i * (1 if start_at_i else step) + d], weight[:, :, d],
                                     stride=(sh, sw) if spatial else 1, padding=(ph, pw) if spatial else 0)
                if bias_per_step and bias is not None:
                    out = out + bias[:, None, None]
            if bias is not None and not bias_per_step:
                out = out + bias[:, None, None]
            outputs.append(out)
        result = torch.stack(outputs, dim=2)
        return result if dtype is None else result.to(dtype)
    return conv3d


@pytest.mark.parametrize("options, match", [
    ({"flip": True}, "flipped in time"),
    ({"pad_time": False}, "temporal padding is missing"),
    ({"stride_time": False}, "temporal stride is ignored"),
    ({"start_at_i": True}, r"start at padded frame i, not i \* stride_t"),
    ({"bias_per_step": True}, "once per kernel time step"),
    ({"spatial": False}, "spatial stride or padding"),
    ({"dtype": torch.float32}, "dtype float32, expected float64"),
])
def test_conv3d_mistakes_are_named(options, match):
    fails("check_conv3d_by_frames", match, conv3d_by_frames=conv3d_variant(**options))


def test_conv3d_calling_torch_conv3d_is_named():
    fails("check_conv3d_by_frames", "calls torch.conv3d",
          conv3d_by_frames=lambda x, w, b, stride=(1, 1, 1), padding=(0, 0, 0): F.conv3d(x, w, b, stride, padding))


def test_conv3d_changing_its_input_is_named():
    right = conv3d_variant()

    def in_place(x, weight, bias, stride=(1, 1, 1), padding=(0, 0, 0)):
        out = right(x, weight, bias, stride, padding)
        x.add_(1.0)
        return out
    fails("check_conv3d_by_frames", "in place", conv3d_by_frames=in_place)


def test_conv3d_with_all_output_steps_at_once_passes():
    def batched(x, weight, bias, stride=(1, 1, 1), padding=(0, 0, 0)):
        (st, sh, sw), (pt, ph, pw) = stride, padding
        n, c, _, h, w = x.shape
        kt = weight.shape[2]
        x = F.pad(x, (0, 0, 0, 0, pt, pt))
        steps = (x.shape[2] - kt) // st + 1
        total = None
        for d in range(kt):                                   # one conv2d per kernel step, over all output steps
            frames = x[:, :, d:d + (steps - 1) * st + 1:st]    # (N, C, T', H, W)
            images = frames.transpose(1, 2).reshape(n * steps, c, h, w)
            out = F.conv2d(images, weight[:, :, d], stride=(sh, sw), padding=(ph, pw))
            total = out if total is None else total + out
        total = total.reshape(n, steps, *total.shape[1:]).transpose(1, 2)
        return total if bias is None else total + bias[:, None, None, None]
    run("check_conv3d_by_frames", conv3d_by_frames=batched)


# ------------------------------------------------------------------------ counting
def test_output_shape_mistakes_are_named():
    fails("check_count_conv3d", "'same' output", conv3d_output_shape=lambda size, kernel, stride=(1, 1, 1),
          padding=(0, 0, 0): tuple(size))
    fails("check_count_conv3d", r"\+1 is missing", conv3d_output_shape=lambda size, kernel, stride=(1, 1, 1),
          padding=(0, 0, 0): tuple((s + 2 * p - k) // st for s, k, st, p in zip(size, kernel, stride, padding)))
    fails("check_count_conv3d", "padding is counted once", conv3d_output_shape=lambda size, kernel, stride=(1, 1, 1),
          padding=(0, 0, 0): tuple((s + p - k) // st + 1 for s, k, st, p in zip(size, kernel, stride, padding)))
    fails("check_count_conv3d", "stride is ignored", conv3d_output_shape=lambda size, kernel, stride=(1, 1, 1),
          padding=(0, 0, 0): tuple(s + 2 * p - k + 1 for s, k, p in zip(size, kernel, padding)))


def test_parameter_count_mistakes_are_named():
    fails("check_count_conv3d", "time size kt is missing", count_conv3d_params=lambda c_in, c_out, kernel, bias=True:
          c_out * c_in * kernel[1] * kernel[2] + c_out * bias)
    fails("check_count_conv3d", "biases are missing", count_conv3d_params=lambda c_in, c_out, kernel, bias=True:
          c_out * c_in * math.prod(kernel))
    fails("check_count_conv3d", "although bias=False", count_conv3d_params=lambda c_in, c_out, kernel, bias=True:
          c_out * c_in * math.prod(kernel) + c_out)


def test_flop_count_mistakes_are_named():
    fails("check_count_conv3d", "multiply and the add separately",
          count_conv3d_flops=lambda c_in, c_out, kernel, out: 2 * c_out * c_in * math.prod(kernel) * math.prod(out))
    fails("check_count_conv3d", "time size kt is missing",
          count_conv3d_flops=lambda c_in, c_out, kernel, out: c_out * c_in * kernel[1] * kernel[2] * math.prod(out))
    fails("check_count_conv3d", "time size T' is missing",
          count_conv3d_flops=lambda c_in, c_out, kernel, out: c_out * c_in * math.prod(kernel) * out[1] * out[2])


def test_counts_written_with_math_prod_pass():
    run("check_count_conv3d",
        conv3d_output_shape=lambda size, kernel, stride=(1, 1, 1), padding=(0, 0, 0): tuple(
            int(math.floor((s + 2 * p - k) / st)) + 1 for s, k, st, p in zip(size, kernel, stride, padding)),
        count_conv3d_params=lambda c_in, c_out, kernel, bias=True: c_out * (c_in * math.prod(kernel) + int(bias)),
        count_conv3d_flops=lambda c_in, c_out, kernel, out: math.prod((c_in, c_out, *kernel, *out)))


# ------------------------------------------------------------------------ I3D inflation
def inflate_variant(*, divide=True, centre=False, pad_time=True, stride_time_1=True, divide_bias=False, dtype=True,
                    in_place=False):
    def inflate(conv, time_size):
        kwargs = {"dtype": conv.weight.dtype} if dtype else {}
        inflated = nn.Conv3d(conv.in_channels, conv.out_channels, (time_size, *conv.kernel_size),
                             stride=(1 if stride_time_1 else conv.stride[0], *conv.stride),
                             padding=(time_size // 2 if pad_time else 0, *conv.padding), bias=conv.bias is not None,
                             **kwargs)
        with torch.no_grad():
            if centre:
                inflated.weight.zero_()
                inflated.weight[:, :, time_size // 2] = conv.weight
            else:
                inflated.weight.copy_(conv.weight[:, :, None].repeat(1, 1, time_size, 1, 1) / (time_size if divide else 1))
            if conv.bias is not None:
                inflated.bias.copy_(conv.bias / (time_size if divide_bias else 1))
            if in_place:
                conv.weight.mul_(2.0)
        return inflated
    return inflate


@pytest.mark.parametrize("options, match", [
    ({"divide": False}, "without dividing by the time size"),
    ({"centre": True}, "only the centre time step"),
    ({"pad_time": False}, "kt // 2 zero frames of padding"),
    ({"stride_time_1": False}, "stride 1 in time"),
    ({"divide_bias": True}, "bias is divided by the time size"),
    ({"dtype": False}, "dtype=conv.weight.dtype"),
    ({"in_place": True}, "changed the 2-D conv's weights in place"),
])
def test_inflation_mistakes_are_named(options, match):
    fails("check_inflate_conv2d", match, inflate_conv2d=inflate_variant(**options))


def test_inflation_with_expand_and_a_new_parameter_passes():
    def inflate(conv, time_size):
        inflated = nn.Conv3d(conv.in_channels, conv.out_channels, (time_size, *conv.kernel_size),
                             stride=(1, *conv.stride), padding=(time_size // 2, *conv.padding),
                             bias=conv.bias is not None).to(conv.weight.dtype)
        inflated.weight = nn.Parameter(conv.weight.detach().unsqueeze(2).expand(-1, -1, time_size, -1, -1) / time_size)
        if conv.bias is not None:
            inflated.bias = nn.Parameter(conv.bias.detach().clone())
        return inflated
    run("check_inflate_conv2d", inflate_conv2d=inflate)


# ------------------------------------------------------------------------ CNN + RNN
def recurrent_class(solution, forward=None, init=None):
    base = solution["CNNRecurrent"]
    namespace = {}
    if forward:
        namespace["forward"] = forward
    if init:
        namespace["__init__"] = init
    return type("CNNRecurrent", (base,), namespace)


def encode(self, videos):
    n, c, t, h, w = videos.shape
    return self.frame_encoder(videos.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)).reshape(n, t, -1)


def test_gru_without_batch_first_is_named(solution):
    def init(self, frame_encoder, feature_dim, hidden_size, num_classes):
        nn.Module.__init__(self)
        self.frame_encoder = frame_encoder
        self.gru = nn.GRU(feature_dim, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_classes)
    fails("check_cnn_recurrent", "batch_first=True", CNNRecurrent=recurrent_class(solution, init=init))


def test_gru_input_reshaped_without_permute_is_named(solution):
    def forward(self, videos):
        n, c, t, h, w = videos.shape
        states, _ = self.gru(self.frame_encoder(videos.reshape(n * t, c, h, w)).reshape(n, t, -1))
        return self.classifier(states)
    fails("check_cnn_recurrent", "without moving the time axis", CNNRecurrent=recurrent_class(solution, forward))


def test_each_frame_through_the_gru_alone_is_named(solution):
    def forward(self, videos):
        features = encode(self, videos)
        n, t, d = features.shape
        states, _ = self.gru(features.reshape(n * t, 1, d))
        return self.classifier(states.reshape(n, t, -1))
    fails("check_cnn_recurrent", "sequence of length 1", CNNRecurrent=recurrent_class(solution, forward))


def test_gru_returning_the_last_step_only_is_named(solution):
    def forward(self, videos):
        states, _ = self.gru(encode(self, videos))
        return self.classifier(states[:, -1])
    fails("check_cnn_recurrent", "only the last step", CNNRecurrent=recurrent_class(solution, forward))


def test_gru_outputs_averaged_are_named(solution):
    def forward(self, videos):
        states, _ = self.gru(encode(self, videos))
        return self.classifier(states.mean(dim=1))
    fails("check_cnn_recurrent", "averaged over time", CNNRecurrent=recurrent_class(solution, forward))


def test_lstm_instead_of_gru_fails_on_the_parameters(solution):
    def init(self, frame_encoder, feature_dim, hidden_size, num_classes):
        nn.Module.__init__(self)
        self.frame_encoder = frame_encoder
        self.gru = nn.LSTM(feature_dim, hidden_size, batch_first=True)
        self.classifier = nn.Linear(hidden_size, num_classes)
    fails("check_cnn_recurrent", r"nn.GRU\(feature_dim, hidden_size, batch_first=True\)",
          CNNRecurrent=recurrent_class(solution, init=init))


def test_gru_time_major_with_transposes_passes(solution):
    def init(self, frame_encoder, feature_dim, hidden_size, num_classes):
        nn.Module.__init__(self)
        self.frame_encoder = frame_encoder
        self.gru = nn.GRU(feature_dim, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, videos):
        features = torch.stack([self.frame_encoder(videos[:, :, t]) for t in range(videos.shape[2])])   # (T, N, D)
        states, _ = self.gru(features)
        return self.classifier(states.transpose(0, 1))
    run("check_cnn_recurrent", CNNRecurrent=recurrent_class(solution, forward, init))


def test_gru_cell_by_hand_passes(solution):
    def forward(self, videos):
        features = encode(self, videos)
        h = torch.zeros(features.shape[0], self.gru.hidden_size)
        cell = nn.GRUCell(self.gru.input_size, self.gru.hidden_size)
        cell.load_state_dict({key.removesuffix("_l0"): value for key, value in self.gru.state_dict().items()})
        states = []
        for t in range(features.shape[1]):
            h = cell(features[:, t], h)
            states.append(h)
        return self.classifier(torch.stack(states, dim=1))
    run("check_cnn_recurrent", CNNRecurrent=recurrent_class(solution, forward))


# ------------------------------------------------------------------------ frame differences
@pytest.mark.parametrize("wrong, match", [
    (lambda v: v[:, :, :-1] - v[:, :, 1:], "sign is reversed"),
    (lambda v: (v[:, :, 1:] - v[:, :, :-1]).abs(), "absolute difference"),
    (lambda v: v - v.roll(1, dims=2), "wraps around"),
    (lambda v: v.diff(dim=3), "height axis"),
    (lambda v: torch.stack([v[:, :, t + 1] - v[:, :, t] for t in range(v.shape[2] - 1)], dim=2)
        if v.shape[2] > 1 else v[:, :, :0], "must not loop"),
])
def test_frame_difference_mistakes_are_named(wrong, match):
    fails("check_frame_differences", match, frame_differences=wrong)


def test_frame_differences_changing_the_videos_is_named():
    def in_place(videos):
        out = videos[:, :, 1:] - videos[:, :, :-1]
        videos[:, :, 1:] = out
        return out
    fails("check_frame_differences", "in place", frame_differences=in_place)


def test_frame_differences_with_torch_diff_passes():
    run("check_frame_differences", frame_differences=lambda videos: torch.diff(videos, dim=2))


# ------------------------------------------------------------------------ non-local block
def block_class(solution, forward=None, init=None):
    base = solution["NonLocalBlock"]
    namespace = {}
    if forward:
        namespace["forward"] = forward
    if init:
        namespace["__init__"] = init
    return type("NonLocalBlock", (base,), namespace)


def block_forward(*, keys_dim=-1, scale="inner", per_frame=False, transpose_back=True, residual=True):
    def forward(self, x):
        n, c, t, h, w = x.shape
        q, k, v = self.theta(x), self.phi(x), self.g(x)
        inner = q.shape[1]
        divide = {"inner": math.sqrt(inner), "channels": math.sqrt(c), "none": 1.0}[scale]
        if per_frame:
            q, k, v = (z.permute(0, 2, 3, 4, 1).reshape(n * t, h * w, inner) for z in (q, k, v))
            y = torch.softmax(q @ k.transpose(1, 2) / divide, dim=keys_dim) @ v                 # (N*T, HW, C')
            y = y.reshape(n, t, h, w, inner).permute(0, 4, 1, 2, 3)
        else:
            q, k, v = (z.flatten(2).transpose(1, 2) for z in (q, k, v))                        # (N, P, C')
            y = torch.softmax(q @ k.transpose(1, 2) / divide, dim=keys_dim) @ v
            y = y.transpose(1, 2).reshape(n, inner, t, h, w) if transpose_back else y.reshape(n, inner, t, h, w)
        return x + self.out(y) if residual else self.out(y)
    return forward


@pytest.mark.parametrize("options, match", [
    ({"keys_dim": 1}, "runs over the queries"),
    ({"scale": "none"}, "not divided by sqrt"),
    ({"scale": "channels"}, r"divided by sqrt\(channels\)"),
    ({"per_frame": True}, "within each frame"),
    ({"transpose_back": False}, "without transposing it back"),
])
def test_non_local_attention_mistakes_are_named(solution, options, match):
    fails("check_nonlocal_block", match, NonLocalBlock=block_class(solution, forward=block_forward(**options)))


def test_non_local_without_residual_is_named(solution):
    fails("check_nonlocal_block", "not added back",
          NonLocalBlock=block_class(solution, forward=block_forward(residual=False)))


def test_non_local_not_initialised_to_the_identity_is_named(solution):
    def init(self, channels, inner_channels):
        nn.Module.__init__(self)
        self.theta, self.phi, self.g = (nn.Conv3d(channels, inner_channels, 1) for _ in range(3))
        self.out = nn.Conv3d(inner_channels, channels, 1)              # default (random) initialisation
    fails("check_nonlocal_block", "is not the identity", NonLocalBlock=block_class(solution, init=init))


def test_non_local_with_every_projection_at_zero_is_named(solution):
    def init(self, channels, inner_channels):
        nn.Module.__init__(self)
        self.theta, self.phi, self.g = (nn.Conv3d(channels, inner_channels, 1) for _ in range(3))
        self.out = nn.Conv3d(inner_channels, channels, 1)
        for layer in (self.theta, self.phi, self.g, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
    fails("check_nonlocal_block", "never learns", NonLocalBlock=block_class(solution, init=init))


def test_non_local_with_queries_and_keys_at_zero_is_named(solution):
    def init(self, channels, inner_channels):
        nn.Module.__init__(self)
        self.theta, self.phi, self.g = (nn.Conv3d(channels, inner_channels, 1) for _ in range(3))
        self.out = nn.Conv3d(inner_channels, channels, 1)
        for layer in (self.theta, self.phi, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
    fails("check_nonlocal_block", "theta's weight at zero", NonLocalBlock=block_class(solution, init=init))


def test_non_local_returning_zeros_at_first_is_named(solution):
    def forward(self, x):
        return self.out(self.g(x)) if not self.out.weight.any() else block_forward()(self, x)
    fails("check_nonlocal_block", "returns zeros", NonLocalBlock=block_class(solution, forward=forward))


def test_non_local_with_scaled_dot_product_attention_passes(solution):
    def forward(self, x):
        n, c, t, h, w = x.shape
        q, k, v = (layer(x).flatten(2).transpose(1, 2) for layer in (self.theta, self.phi, self.g))
        y = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(y.transpose(1, 2).unflatten(2, (t, h, w)))
    run("check_nonlocal_block", NonLocalBlock=block_class(solution, forward=forward))


def test_non_local_with_einsum_passes(solution):
    def forward(self, x):
        q, k, v = (layer(x) for layer in (self.theta, self.phi, self.g))
        scores = torch.einsum("ncthw,ncsij->nthwsij", q, k) / math.sqrt(q.shape[1])
        shape = scores.shape
        weights = torch.softmax(scores.reshape(*shape[:4], -1), dim=-1).reshape(shape)
        return x + self.out(torch.einsum("nthwsij,ncsij->ncthw", weights, v))
    run("check_nonlocal_block", NonLocalBlock=block_class(solution, forward=forward))
