"""Notebook 14_graphs_3d: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is written the way a student writes it, with one classic mistake; its grade
cell (visible and hidden checks) must fail with a message that names it. Valid alternatives (another
order of the products, other vectorisations, library routes that the exercise allows) must pass. No
grade cell depends on another exercise: each later cell passes with every earlier answer a stub.
Conventions: A_hat = D^-1/2 (A + I) D^-1/2 with the degrees of A + I; L = D - A; the bias of a graph
convolution after the propagation; PointNet pools with the maximum over the points axis; Chamfer
distance with squared distances, mean per direction, the two directions added (PyTorch3D); voxel
[i, j, k] with i along x and floor indexing, a coordinate equal to `high` in the last voxel; IoU of
two empty grids is 1; one FLOP is one multiply-add, memory in bytes; SDF negative inside (DeepSDF);
F1@t counts distances strictly below t (Mesh R-CNN); the scale-invariant loss in natural-log depth,
per image over its valid pixels, averaged over the batch, lambda = 0.5 by default.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradecells import grade_cell_fails, graded_ids, run_grade_cell
from scipy.sparse.csgraph import laplacian as scipy_laplacian
from scipy.spatial import cKDTree

NOTEBOOK = "14_graphs_3d"
GRADE_IDS = ["check_normalize_adjacency", "check_graph_laplacian", "check_gcn", "check_pointnet", "check_chamfer",
             "check_voxelize", "check_voxel_iou", "check_voxel_cnn", "check_conv3d_cost", "check_box_sdf", "check_f1",
             "check_scale_invariant_loss"]
ANSWERS = ["normalize_adjacency", "graph_laplacian", "GraphConv", "GCN", "PointNet", "chamfer_distance", "voxelize",
           "voxel_iou", "VoxelCNN", "conv3d_cost", "box_sdf", "f1_score_at", "scale_invariant_loss"]


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


def fails(grade_id, match, **overrides):
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


def stub(*args, **kwargs):
    raise NotImplementedError("a stub")


class Stub(nn.Module):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("a stub")


# ------------------------------------------------------------------------ the notebook itself
@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)


@pytest.mark.parametrize("grade_id", GRADE_IDS[1:])
def test_each_cell_passes_with_every_other_answer_a_stub(grade_id):     # each mistake costs its own cell only
    tested = {"check_graph_laplacian": ["graph_laplacian"], "check_gcn": ["GraphConv", "GCN"],
              "check_pointnet": ["PointNet"], "check_chamfer": ["chamfer_distance"], "check_voxelize": ["voxelize"],
              "check_voxel_iou": ["voxel_iou"], "check_voxel_cnn": ["VoxelCNN"], "check_conv3d_cost": ["conv3d_cost"],
              "check_box_sdf": ["box_sdf"], "check_f1": ["f1_score_at"],
              "check_scale_invariant_loss": ["scale_invariant_loss"]}[grade_id]
    others = {name: (Stub if name[0].isupper() else stub) for name in ANSWERS if name not in tested}
    run(grade_id, **others)


# ------------------------------------------------------------------------ normalize_adjacency
def normalize(A, loops=True, degrees_with_loops=True, kind="symmetric", dtype=np.float64):
    A = np.asarray(A, dtype=dtype)
    A_loops = A + np.eye(len(A), dtype=dtype) if loops else A
    d = (A + np.eye(len(A)) if degrees_with_loops else A).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "row":
            return A_loops / d[:, None]
        if kind == "column":
            return A_loops / d[None, :]
        if kind == "no sqrt":
            return A_loops / np.outer(d, d)
        if kind == "none":
            return A_loops
        return (A_loops / np.sqrt(np.outer(d, d))).astype(dtype)


@pytest.mark.parametrize("mistake, match", [
    (dict(loops=False, degrees_with_loops=False), "self-loops are missing"),
    (dict(degrees_with_loops=False), "degrees miss the self-loops"),
    (dict(kind="row"), "ROW normalisation"),
    (dict(kind="column"), "COLUMN normalisation"),
    (dict(kind="no sqrt"), "square roots are missing"),
    (dict(kind="none"), "not normalised"),
    (dict(dtype=np.float32), "has dtype float32, expected float64"),
])
def test_normalize_adjacency_mistake_is_named(mistake, match):
    fails("check_normalize_adjacency", match, normalize_adjacency=lambda A: normalize(A, **mistake))


def test_normalize_adjacency_changing_A_in_place_is_named():
    def in_place(A):
        A += np.eye(len(A), dtype=A.dtype)
        d = A.sum(axis=1)
        return A / np.sqrt(np.outer(d, d))
    fails("check_normalize_adjacency", "changed its argument 1 in place", normalize_adjacency=in_place)


def test_normalize_adjacency_with_loops_or_torch_is_named():
    def loops(A):
        A_loops = np.asarray(A, dtype=np.float64) + np.eye(len(A))
        d = A_loops.sum(axis=1)
        out = np.empty_like(A_loops)
        for i in range(len(A)):
            out[i] = A_loops[i] / np.sqrt(d[i] * d)
        return out
    fails("check_normalize_adjacency", "must not loop", normalize_adjacency=loops)

    def with_torch(A):
        A_loops = torch.tensor(np.asarray(A, dtype=np.float64)) + torch.eye(len(A), dtype=torch.float64)
        scale = A_loops.sum(1).rsqrt()
        return (scale[:, None] * A_loops * scale[None, :]).numpy()
    fails("check_normalize_adjacency", "must be written by hand with NumPy", normalize_adjacency=with_torch)


@pytest.mark.parametrize("valid", [
    lambda A: (lambda M: np.diag(M.sum(1) ** -0.5) @ M @ np.diag(M.sum(1) ** -0.5))(np.asarray(A, float) + np.eye(len(A))),
    lambda A: (lambda M: np.einsum("i,ij,j->ij", 1 / np.sqrt(M.sum(0)), M, 1 / np.sqrt(M.sum(0))))(
        np.asarray(A, float) + np.eye(len(A))),
    lambda A: (lambda M: M / np.sqrt(np.outer(M.sum(1), M.sum(1))))(np.add(A, np.eye(len(A)))),
])
def test_normalize_adjacency_written_another_way_passes(valid):
    run("check_normalize_adjacency", normalize_adjacency=valid)


# ------------------------------------------------------------------------ graph_laplacian
@pytest.mark.parametrize("wrong, match", [
    (lambda A: np.asarray(A, float) - np.diag(np.sum(A, axis=1)), "sign is flipped"),
    (lambda A: np.diag(np.sum(A, axis=1)) + np.asarray(A, float), "signless"),
    (lambda A: np.diag(np.sum(A, axis=1) + 1.0) - np.asarray(A, float), "degrees include a self-loop"),
    (lambda A: np.sum(A, axis=1) - np.asarray(A, float), "degree VECTOR was broadcast"),
    (lambda A: (np.diag(np.sum(A, axis=1)) - A).astype(np.float32), "has dtype float32"),
])
def test_graph_laplacian_mistake_is_named(wrong, match):
    fails("check_graph_laplacian", match, graph_laplacian=wrong)


def test_graph_laplacian_with_a_loop_or_in_place_is_named():
    def loop(A):
        L = -np.asarray(A, dtype=np.float64)
        for i in range(len(A)):
            L[i, i] = np.sum(A[i])
        return L
    fails("check_graph_laplacian", "must not loop", graph_laplacian=loop)

    def in_place(A):
        A *= -1
        np.fill_diagonal(A, -A.sum(axis=1))
        return A.astype(np.float64)
    fails("check_graph_laplacian", "changed its argument 1 in place", graph_laplacian=in_place)


@pytest.mark.parametrize("valid", [
    lambda A: scipy_laplacian(np.asarray(A, dtype=np.float64)),
    lambda A: np.diag(np.asarray(A, float).sum(axis=0)) - np.asarray(A, float),        # column sums (A symmetric)
    lambda A: np.eye(len(A)) * np.asarray(A, float).sum(1, keepdims=True) - A,
])
def test_graph_laplacian_written_another_way_passes(valid):
    run("check_graph_laplacian", graph_laplacian=valid)


# ------------------------------------------------------------------------ GraphConv and GCN
def graph_conv(bias_in_linear=False, bias_before=False, propagate=True, weight_first=True):
    class WrongConv(nn.Module):
        def __init__(self, in_features, out_features):
            super().__init__()
            self.linear = nn.Linear(in_features, out_features, bias=bias_in_linear)
            self.bias = nn.Parameter(torch.zeros(out_features))

        def forward(self, A_hat, H):
            if not propagate:
                return self.linear(H) + self.bias
            if bias_before:
                return A_hat @ (self.linear(H) + self.bias)
            return (A_hat @ self.linear(H) if weight_first else self.linear(A_hat @ H)) + self.bias
    return WrongConv


def gcn(conv, relu_between=True, relu_after=False, dropout="functional", fixed_p=None, positional=False):
    class WrongGCN(nn.Module):
        def __init__(self, in_features, hidden, num_classes, p=0.5):
            super().__init__()
            self.conv1, self.conv2 = conv(in_features, hidden), conv(hidden, num_classes)
            self.p = p if fixed_p is None else fixed_p
            self.drop = nn.Dropout(self.p)

        def dropped(self, x):
            if dropout == "module":
                return self.drop(x)
            if dropout == "never":
                return x
            return F.dropout(x, self.p, training=True if dropout == "always" else self.training)

        def forward(self, A_hat, X):
            h = self.conv1(A_hat, self.dropped(X))
            h = F.relu(h) if relu_between else h
            out = self.conv2(A_hat, self.dropped(h))
            out = F.relu(out) if relu_after else out
            return out + 1e-2 * torch.arange(len(X))[:, None] if positional else out
    return WrongGCN


GOOD_CONV = graph_conv()


@pytest.mark.parametrize("conv, match", [
    (graph_conv(bias_in_linear=True), "should hold exactly linear.weight and bias"),
    (graph_conv(bias_before=True), "bias is added BEFORE the propagation"),
    (graph_conv(propagate=False), "A_hat is not used"),
])
def test_graph_conv_mistake_is_named(conv, match):
    fails("check_gcn", match, GraphConv=conv, GCN=gcn(conv))


@pytest.mark.parametrize("model, match", [
    (gcn(GOOD_CONV, relu_between=False), "ReLU between the two graph convolutions is missing"),
    (gcn(GOOD_CONV, relu_after=True), "ReLU is applied to the logits"),
    (gcn(GOOD_CONV, dropout="never"), "training mode gave the eval-mode logits"),
    (gcn(GOOD_CONV, dropout="always"), "two different outputs in eval mode"),
    (gcn(GOOD_CONV, fixed_p=0.5), r"GCN\(p=0\) in training mode"),
    (gcn(GOOD_CONV, positional=True), "renumbered graph"),
])
def test_gcn_mistake_is_named(model, match):
    fails("check_gcn", match, GraphConv=GOOD_CONV, GCN=model)


def test_gcn_without_its_own_bias_is_named():
    class NoBias(GOOD_CONV):
        def __init__(self, in_features, out_features):
            super().__init__(in_features, out_features)
            del self.bias
            self.register_parameter("bias", None)

        def forward(self, A_hat, H):
            return A_hat @ self.linear(H)
    fails("check_gcn", "should hold exactly linear.weight and bias", GraphConv=NoBias, GCN=gcn(NoBias))


@pytest.mark.parametrize("conv, model", [
    (graph_conv(weight_first=False), gcn(graph_conv(weight_first=False))),      # (A_hat H) W: the other order
    (GOOD_CONV, gcn(GOOD_CONV, dropout="module")),                            # nn.Dropout modules
])
def test_gcn_written_another_way_passes(conv, model):
    run("check_gcn", GraphConv=conv, GCN=model)


# ------------------------------------------------------------------------ PointNet
def pointnet(pool="max", last_relu=True, conv1d=False):
    class WrongPointNet(nn.Module):
        def __init__(self, num_classes, hidden=(64, 128)):
            super().__init__()
            layers, width = [], 3
            for number, size in enumerate(hidden):
                layers.append(nn.Conv1d(width, size, 1) if conv1d else nn.Linear(width, size))
                if last_relu or number < len(hidden) - 1:
                    layers.append(nn.ReLU())
                width = size
            self.mlp = nn.Sequential(*layers)
            self.head = nn.Linear(width, num_classes)

        def global_features(self, points):
            h = self.mlp(points.transpose(1, 2)).transpose(1, 2) if conv1d else self.mlp(points)
            return {"max": lambda: h.max(dim=1).values, "amax": lambda: torch.amax(h, dim=1),
                    "mean": lambda: h.mean(dim=1), "sum": lambda: h.sum(dim=1), "features": lambda: h.max(dim=2).values,
                    "batch": lambda: h.max(dim=0).values, "first": lambda: h[:, 0]}[pool]()

        def forward(self, points):
            return self.head(self.global_features(points))
    return WrongPointNet


@pytest.mark.parametrize("mistake, match", [
    (dict(pool="mean"), "MEAN pooling"),
    (dict(pool="sum"), "SUM pooling"),
    (dict(pool="features"), r"FEATURE axis \(2\)"),
    (dict(pool="batch"), r"pool over the points: axis 1"),
    (dict(pool="first"), "points of every cloud were shuffled"),
    (dict(last_relu=False), "ReLU after the last linear layer"),
])
def test_pointnet_mistake_is_named(mistake, match):
    fails("check_pointnet", match, PointNet=pointnet(**mistake))


def test_pointnet_not_shared_over_the_points_is_named():
    class Flattened(pointnet()):
        def __init__(self, num_classes, hidden=(64, 128)):
            super().__init__(num_classes, hidden)
            self.extra = nn.Linear(3 * 50, 1)                   # a weight that depends on the number of points
    fails("check_pointnet", "SHARED by all points", PointNet=Flattened)


@pytest.mark.parametrize("mistake", [dict(pool="amax"), dict(conv1d=True)])
def test_pointnet_written_another_way_passes(mistake):
    run("check_pointnet", PointNet=pointnet(**mistake))


# ------------------------------------------------------------------------ chamfer_distance
def chamfer(P, Q, single_directional=False, terms="both", root=False, reduce="mean", combine="add", reverse=False):
    squared = ((P[:, None, :] - Q[None, :, :]) ** 2).sum(-1)
    if root:
        squared = squared.sqrt()
    reduce_fn = {"mean": torch.mean, "sum": torch.sum, "max": torch.max}[reduce]
    forward, backward = reduce_fn(squared.min(dim=1).values), reduce_fn(squared.min(dim=0).values)
    if single_directional:
        return backward if reverse else forward
    if terms == "forward":
        return forward
    if terms == "backward":
        return backward
    return (forward + backward) / (2 if combine == "average" else 1)


@pytest.mark.parametrize("mistake, match", [
    (dict(terms="forward"), r"only the first term \(P -> Q\)"),
    (dict(terms="backward"), r"only the second term \(Q -> P\)"),
    (dict(root=True), "Euclidean \\(unsquared\\) distances, another convention"),
    (dict(combine="average"), "averaged"),
    (dict(reduce="sum"), "sums over the points"),
    (dict(reduce="max"), "Hausdorff"),
    (dict(reverse=True), "single_directional=True should give the P -> Q term"),
])
def test_chamfer_mistake_is_named(mistake, match):
    fails("check_chamfer", match, chamfer_distance=lambda P, Q, single_directional=False: chamfer(
        P, Q, single_directional, **mistake))


def test_chamfer_with_a_loop_is_named():
    def loop(P, Q, single_directional=False):
        forward = torch.stack([((Q - p) ** 2).sum(-1).min() for p in P]).mean()
        backward = torch.stack([((P - q) ** 2).sum(-1).min() for q in Q]).mean()
        return forward if single_directional else forward + backward
    fails("check_chamfer", "must not loop", chamfer_distance=loop)


def test_chamfer_through_numpy_is_named():
    def numpy(P, Q, single_directional=False):
        return torch.tensor(chamfer(P, Q, single_directional).item(), dtype=P.dtype)
    fails("check_chamfer", "not differentiable", chamfer_distance=numpy)


def test_chamfer_in_float64_or_of_shape_one_is_named():
    fails("check_chamfer", "has dtype float64, expected float32",
          chamfer_distance=lambda P, Q, single_directional=False: chamfer(P.double(), Q.double(), single_directional))
    fails("check_chamfer", "wrong shape",
          chamfer_distance=lambda P, Q, single_directional=False: chamfer(P, Q, single_directional).reshape(1))


def chamfer_by_expansion(P, Q, single_directional=False):
    squared = (P * P).sum(1)[:, None] + (Q * Q).sum(1)[None, :] - 2 * P @ Q.T
    forward = squared.clamp_min(0).min(dim=1).values.mean()
    return forward if single_directional else forward + squared.clamp_min(0).min(dim=0).values.mean()


@pytest.mark.parametrize("valid", [
    chamfer_by_expansion,
    lambda P, Q, single_directional=False: (lambda d: d.min(1)[0].mean() + (0 if single_directional else d.min(0)[0].mean()))(
        torch.cdist(P, Q) ** 2),
])
def test_chamfer_written_another_way_passes(valid):
    run("check_chamfer", chamfer_distance=valid)


# ------------------------------------------------------------------------ voxelize
def voxelize_wrong(points, resolution, low=-1.0, high=1.0, index="floor", subtract_low=True, clip_high=True,
                   drop_outside=True, include_high=True, order=(0, 1, 2), dtype=bool):
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if drop_outside:
        inside = (points >= low) & ((points <= high) if include_high else (points < high))
        points = points[np.all(inside, axis=1)]
    scaled = ((points - low) if subtract_low else points) / (high - low) * resolution
    idx = (np.floor(scaled) if index == "floor" else np.round(scaled)).astype(np.int64)
    if clip_high:
        idx = np.minimum(idx, resolution - 1)
    if not drop_outside:
        idx = np.clip(idx, 0, resolution - 1)
    grid = np.zeros((resolution,) * 3, dtype=dtype)
    grid[idx[:, order[0]], idx[:, order[1]], idx[:, order[2]]] = True
    return grid


@pytest.mark.parametrize("mistake, match", [
    (dict(order=(2, 1, 0)), "axes are reversed"),
    (dict(index="round"), "ROUNDED"),
    (dict(subtract_low=False), "low is not subtracted"),
    (dict(drop_outside=False), "clipped into the border voxels"),
    (dict(include_high=False), "equal to `high` is dropped"),
    (dict(clip_high=False), "raised IndexError"),
    (dict(dtype=np.int64), "has dtype int64, expected bool"),
])
def test_voxelize_mistake_is_named(mistake, match):
    fails("check_voxelize", match, voxelize=lambda points, R, low=-1.0, high=1.0: voxelize_wrong(
        points, R, low, high, **mistake))


def test_voxelize_with_a_loop_torch_or_in_place_is_named():
    def loop(points, resolution, low=-1.0, high=1.0):
        grid = np.zeros((resolution,) * 3, dtype=bool)
        for point in np.asarray(points, dtype=np.float64):
            if np.all((point >= low) & (point <= high)):
                grid[tuple(np.minimum(((point - low) / (high - low) * resolution).astype(int), resolution - 1))] = True
        return grid
    fails("check_voxelize", "must not loop", voxelize=loop)

    def with_torch(points, resolution, low=-1.0, high=1.0):
        grid = torch.from_numpy(voxelize_wrong(points, resolution, low, high))
        return torch.clone(grid).numpy()
    fails("check_voxelize", "must be written by hand with NumPy", voxelize=with_torch)

    def in_place(points, resolution, low=-1.0, high=1.0):
        points -= low
        return voxelize_wrong(points, resolution, 0.0, high - low)
    fails("check_voxelize", "changed its argument 1 in place", voxelize=in_place)


def voxelize_histogram(points, resolution, low=-1.0, high=1.0):
    counts, _ = np.histogramdd(np.asarray(points, dtype=np.float64).reshape(-1, 3), bins=resolution,
                               range=[(low, high)] * 3)
    return counts > 0


def voxelize_bincount(points, resolution, low=-1.0, high=1.0):
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    kept = points[((points >= low) & (points <= high)).all(axis=1)]
    index = np.clip(((kept - low) // ((high - low) / resolution)).astype(int), 0, resolution - 1)
    flat = np.ravel_multi_index(index.T, (resolution,) * 3)
    return np.bincount(flat, minlength=resolution ** 3).reshape((resolution,) * 3) > 0


@pytest.mark.parametrize("valid", [voxelize_histogram, voxelize_bincount])
def test_voxelize_written_another_way_passes(valid):
    run("check_voxelize", voxelize=valid)


# ------------------------------------------------------------------------ voxel_iou
def iou_wrong(pred, target, union="or", per_example=True, empty=1.0, dice=False):
    pred = np.asarray(pred, dtype=bool).reshape(len(pred), -1)
    target = np.asarray(target, dtype=bool).reshape(len(target), -1)
    if not per_example:
        pred, target = pred.reshape(1, -1), target.reshape(1, -1)
    both = (pred & target).sum(1)
    total = (pred | target).sum(1) if union == "or" else pred.sum(1) + target.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (2 * both / total) if dice else both / total
    value = np.where(total > 0, value, empty) if empty is not None else value
    return np.repeat(value, len(np.asarray(pred))) if not per_example else value


@pytest.mark.parametrize("mistake, match", [
    (dict(union="sum"), "counts the common voxels twice"),
    (dict(union="sum", dice=True), "Dice coefficient"),
    (dict(empty=0.0), "two empty grids get IoU 0"),
    (dict(empty=None), "returned NaN or inf"),
])
def test_voxel_iou_mistake_is_named(mistake, match):
    fails("check_voxel_iou", match, voxel_iou=lambda pred, target: iou_wrong(pred, target, **mistake))


def test_voxel_iou_for_the_whole_batch_is_named():
    def whole_batch(pred, target):
        pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
        union = (pred | target).sum()
        return np.full(len(pred), (pred & target).sum() / union if union else 1.0)
    fails("check_voxel_iou", "one IoU for the whole batch", voxel_iou=whole_batch)
    fails("check_voxel_iou", "wrong shape", voxel_iou=lambda pred, target: whole_batch(pred, target)[0])


@pytest.mark.parametrize("valid", [
    lambda pred, target: np.array([1.0 if not (p.any() or t.any()) else np.logical_and(p, t).sum() / np.logical_or(
        p, t).sum() for p, t in zip(np.asarray(pred, bool), np.asarray(target, bool))]),
    lambda pred, target: (lambda p, t: np.divide((p * t).sum(1), np.maximum(((p + t) > 0).sum(1), 1), dtype=np.float64)
                          + ((p + t) == 0).all(1))(np.reshape(pred, (len(pred), -1)).astype(int),
                                                    np.reshape(target, (len(target), -1)).astype(int)),
])
def test_voxel_iou_written_another_way_passes(valid):
    run("check_voxel_iou", voxel_iou=valid)


# ------------------------------------------------------------------------ VoxelCNN
def voxel_cnn(pool=F.max_pool3d, relu=True, fc_size=None):
    class WrongVoxelCNN(nn.Module):
        def __init__(self, num_classes, width=8, resolution=16):
            super().__init__()
            self.conv1 = nn.Conv3d(1, width, 3, padding=1)
            self.conv2 = nn.Conv3d(width, 2 * width, 3, padding=1)
            self.fc = nn.Linear(fc_size or 2 * width * (resolution // 4) ** 3, num_classes)

        def forward(self, x):
            act = F.relu if relu else (lambda h: h)
            x = pool(act(self.conv1(x)), 2)
            x = pool(act(self.conv2(x)), 2)
            return self.fc(x.flatten(1))
    return WrongVoxelCNN


@pytest.mark.parametrize("model, match", [
    (voxel_cnn(pool=F.avg_pool3d), "AVERAGE pooling"),
    (voxel_cnn(relu=False), "ReLUs are missing"),
    (voxel_cnn(fc_size=1024), "do not hard-code it"),
])
def test_voxel_cnn_mistake_is_named(model, match):
    fails("check_voxel_cnn", match, VoxelCNN=model)


# ------------------------------------------------------------------------ conv3d_cost
def cost(R, c_in, c_out, k=3, voxels=None, kernel=None, flops_factor=1, bias=1, bytes_per=4, memory_of="output"):
    voxels = R ** 3 if voxels is None else voxels(R)
    kernel = k ** 3 if kernel is None else kernel(k)
    memory = (c_out if memory_of == "output" else c_in) * voxels * bytes_per
    return c_out * (c_in * kernel + bias), flops_factor * c_out * voxels * c_in * kernel, memory


@pytest.mark.parametrize("mistake, match", [
    (dict(bias=0), "biases are missing"),
    (dict(kernel=lambda k: k * k), "a 2-D kernel"),
    (dict(flops_factor=2), "2 FLOPs per multiply-add"),
    (dict(voxels=lambda R: R * R), "a 2-D count"),
    (dict(bytes_per=1), "counts values, not bytes"),
    (dict(bytes_per=32), "counts bits"),
    (dict(memory_of="input"), "the INPUT's memory"),
])
def test_conv3d_cost_mistake_is_named(mistake, match):
    fails("check_conv3d_cost", match, conv3d_cost=lambda R, c_in, c_out, k=3: cost(R, c_in, c_out, k, **mistake))


def test_conv3d_cost_in_floats_or_as_one_number_is_named():
    fails("check_conv3d_cost", "counts are integers",
          conv3d_cost=lambda R, c_in, c_out, k=3: tuple(float(v) for v in cost(R, c_in, c_out, k)))
    fails("check_conv3d_cost", "should return three numbers",
          conv3d_cost=lambda R, c_in, c_out, k=3: cost(R, c_in, c_out, k)[1])


# ------------------------------------------------------------------------ box_sdf
def sdf(points, half_sizes, variant=None):
    q = (points if variant == "no abs" else np.abs(points)) - half_sizes
    outside = np.linalg.norm(np.maximum(q, 0), axis=-1)
    inside = np.minimum(q.max(axis=-1), 0)
    value = {None: outside + inside, "no abs": outside + inside, "sign": -(outside + inside), "outside": outside,
             "chebyshev": q.max(axis=-1), "norm q": np.linalg.norm(q, axis=-1), "float64": outside + inside}[variant]
    return value if variant == "float64" else value.astype(points.dtype)


@pytest.mark.parametrize("variant, match", [
    ("sign", "sign is flipped"),
    ("outside", "inside the box the distance is 0"),
    ("chebyshev", "a bound"),
    ("norm q", "without max\\(q, 0\\)"),
    ("no abs", "absolute value is missing"),
    ("float64", "has dtype float64, expected float32"),
])
def test_box_sdf_mistake_is_named(variant, match):
    fails("check_box_sdf", match, box_sdf=lambda points, b: sdf(points, b, variant))


def test_box_sdf_with_a_loop_or_torch_is_named():
    def loop(points, b):
        flat = points.reshape(-1, 3)
        return np.array([sdf(p[None], b)[0] for p in flat], dtype=points.dtype).reshape(points.shape[:-1])
    fails("check_box_sdf", "must not loop", box_sdf=loop)

    def with_torch(points, b):
        q = torch.from_numpy(points).abs() - torch.from_numpy(np.asarray(b, dtype=points.dtype))
        return (q.clamp_min(0).norm(dim=-1) + q.max(dim=-1).values.clamp_max(0)).numpy()
    fails("check_box_sdf", "must be written by hand with NumPy", box_sdf=with_torch)


def box_sdf_projection(points, b):
    nearest = np.clip(points, -b, b)
    outside = np.linalg.norm(points - nearest, axis=-1)
    inside = np.min(b - np.abs(points), axis=-1)
    return np.where(outside > 0, outside, -inside).astype(points.dtype)


@pytest.mark.parametrize("valid", [box_sdf_projection,
                                   lambda points, b: np.sqrt((np.maximum(np.abs(points) - b, 0) ** 2).sum(-1)).astype(
                                       points.dtype) + np.minimum((np.abs(points) - b).max(-1), 0).astype(points.dtype)])
def test_box_sdf_written_another_way_passes(valid):
    run("check_box_sdf", box_sdf=valid)


# ------------------------------------------------------------------------ f1_score_at
def f1(pred, target, t, squared=False, closed=False, swap=False, mean="harmonic", nan=False, tensors=False):
    d = torch.cdist(pred.double(), target.double())
    d = d ** 2 if squared else d
    near = (d <= t) if closed else (d < t)
    precision, recall = near.any(dim=1).double().mean(), near.any(dim=0).double().mean()
    if mean == "arithmetic":
        score = (precision + recall) / 2
    elif nan or precision + recall > 0:
        score = 2 * precision * recall / (precision + recall)
    else:
        score = torch.tensor(0.0, dtype=torch.float64)
    values = (score, recall, precision) if swap else (score, precision, recall)
    return values if tensors else tuple(float(v) for v in values)


@pytest.mark.parametrize("mistake, match", [
    (dict(swap=True), "precision and recall are swapped"),
    (dict(squared=True), "squared distances are compared with t"),
    (dict(closed=True), "strictly closer"),
    (dict(mean="arithmetic"), "HARMONIC mean"),
    (dict(nan=True), "F1 is 0 \\(not 0 / 0\\)"),
    (dict(tensors=True), "return Python floats"),
])
def test_f1_mistake_is_named(mistake, match):
    fails("check_f1", match, f1_score_at=lambda pred, target, t: f1(pred, target, t, **mistake))


def test_f1_with_a_loop_is_named():
    def loop(pred, target, t):
        precision = np.mean([float(((target - p) ** 2).sum(-1).min().sqrt()) < t for p in pred])
        recall = np.mean([float(((pred - q) ** 2).sum(-1).min().sqrt()) < t for q in target])
        return (2 * precision * recall / (precision + recall) if precision + recall else 0.0), float(precision), float(recall)
    fails("check_f1", "must not loop", f1_score_at=loop)


def f1_with_kdtree(pred, target, t):
    precision = float(np.mean(cKDTree(target.numpy()).query(pred.numpy())[0] < t))
    recall = float(np.mean(cKDTree(pred.numpy()).query(target.numpy())[0] < t))
    return (2 * precision * recall / (precision + recall) if precision + recall else 0.0), precision, recall


def f1_squared_against_t_squared(pred, target, t):
    squared = ((pred[:, None].double() - target[None].double()) ** 2).sum(-1)
    precision = (squared.min(1).values < t * t).double().mean().item()
    recall = (squared.min(0).values < t * t).double().mean().item()
    return (2 * precision * recall / (precision + recall) if precision + recall else 0.0), precision, recall


@pytest.mark.parametrize("valid", [f1_with_kdtree, f1_squared_against_t_squared])
def test_f1_written_another_way_passes(valid):
    run("check_f1", f1_score_at=valid)


# ------------------------------------------------------------------------ scale_invariant_loss
def si(pred, target, lam=0.5, mask=None, log=torch.log, second="n2", sign=-1, pooled=False, reduce="mean",
       use_mask=True, multiply_mask=False, default=None):
    mask = torch.ones_like(target, dtype=torch.bool) if mask is None or not use_mask else mask
    if multiply_mask:
        d = (log(pred) - log(target)) * mask
    else:
        ones = torch.ones_like(pred)
        d = torch.where(mask, log(torch.where(mask, pred, ones)) - log(torch.where(mask, target, ones)), 0.0)
    if pooled:
        d, mask = d.reshape(1, -1), mask.reshape(1, -1)
    n = mask.flatten(1).sum(1)
    d = d.flatten(1)
    per_image = d.pow(2).sum(1) / n + sign * lam * d.sum(1).pow(2) / (n ** 2 if second == "n2" else n)
    return per_image.mean() if reduce == "mean" else per_image.sum()


@pytest.mark.parametrize("mistake, match", [
    (dict(log=lambda x: x), "without the log"),
    (dict(log=torch.log10), "log10"),
    (dict(second="n"), "divided by n instead of n\\^2"),
    (dict(sign=+1), "second term is ADDED"),
    (dict(pooled=True), "pool the pixels of the whole batch"),
    (dict(reduce="sum"), "per-image losses are summed"),
    (dict(use_mask=False), "mask is ignored"),
    (dict(multiply_mask=True), "-inf \\* 0 = NaN"),
])
def test_scale_invariant_loss_mistake_is_named(mistake, match):
    fails("check_scale_invariant_loss", match,
          scale_invariant_loss=lambda pred, target, lam=0.5, mask=None: si(pred, target, lam, mask, **mistake))


def test_scale_invariant_loss_default_lambda_and_differentiability_are_checked():
    fails("check_scale_invariant_loss", "without lam \\(the default, 0.5\\)",
          scale_invariant_loss=lambda pred, target, lam=1.0, mask=None: si(pred, target, lam, mask))
    fails("check_scale_invariant_loss", "not differentiable", scale_invariant_loss=lambda pred, target, lam=0.5,
          mask=None: torch.tensor(si(pred, target, lam, mask).item(), dtype=pred.dtype))


def test_scale_invariant_loss_with_a_nan_gradient_at_holes_is_named():
    def ratio(pred, target, lam=0.5, mask=None):            # log(pred / target): the value is fine, the gradient not
        mask = torch.ones_like(target, dtype=torch.bool) if mask is None else mask
        d = torch.where(mask, torch.log(pred / target), 0.0)
        n = mask.flatten(1).sum(1)
        return (d.flatten(1).pow(2).sum(1) / n - lam * d.flatten(1).sum(1).pow(2) / n ** 2).mean()
    fails("check_scale_invariant_loss", "gradient of scale_invariant_loss is not finite", scale_invariant_loss=ratio)


def si_by_images(pred, target, lam=0.5, mask=None):
    mask = torch.ones_like(target, dtype=torch.bool) if mask is None else mask
    losses = []
    for p, t, m in zip(pred, target, mask):
        d = torch.log(p[m]) - torch.log(t[m])
        losses.append((d ** 2).mean() - lam * d.mean() ** 2)
    return torch.stack(losses).mean()


def si_by_variance(pred, target, lam=0.5, mask=None):
    mask = torch.ones_like(target, dtype=torch.bool) if mask is None else mask
    d = (pred.clamp_min(1e-30).log() - target.masked_fill(~mask, 1.0).log()).masked_fill(~mask, 0.0).flatten(1)
    n = mask.flatten(1).sum(1)
    mean = d.sum(1) / n
    return ((d ** 2).sum(1) / n - lam * mean ** 2).mean()


@pytest.mark.parametrize("valid", [si_by_images, si_by_variance])
def test_scale_invariant_loss_written_another_way_passes(valid):
    run("check_scale_invariant_loss", scale_invariant_loss=valid)
