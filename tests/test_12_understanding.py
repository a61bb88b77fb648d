"""Notebook 12_understanding: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is written the way a student writes it, with one classic mistake switched on;
the VISIBLE part of its grade cell (what the student runs) must fail with a message that names it. Valid alternatives
(another loop order, backward() instead of autograd.grad, hooks of another kind, einsum or a loop) must
pass. Every grade cell must also pass when every OTHER function of the notebook is still a stub: a
mistake costs its own cell only.
Conventions: images (N, C, H, W) in [0, 1]; "score" = logit; saliency = max over channels of |d score / dx|;
occlusion = drop of the softmax probability; CAM raw (no ReLU, no normalisation); Grad-CAM with the mean
gradient per channel and a ReLU; L2 penalty lambda ||I||^2 without 1/2 (gradient 2 lambda I); squared TV
without wrap-around; Gram matrix / (C H W); style and content losses are sums of squares; attacks in eval
mode, the model's mode restored; PGD steps, projects onto the ball around the original x, then clips.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradecells import graded_ids, run_grade_cell
from visible_checks import visible_part_fails

NOTEBOOK = "12_understanding"
FUNCTIONS_OF = {
    "check_nearest_neighbours": ["nearest_neighbours"],
    "check_pca_project": ["pca_project"],
    "check_saliency_map": ["saliency_map"],
    "check_occlusion_map": ["occlusion_map"],
    "check_class_activation_map": ["class_activation_map"],
    "check_grad_cam": ["grad_cam"],
    "check_ascent_step": ["ascent_step"],
    "check_total_variation": ["total_variation"],
    "check_invert_features": ["invert_features"],
    "check_gram_matrix": ["gram_matrix"],
    "check_style_losses": ["style_loss", "content_loss"],
    "check_fgsm_attack": ["fgsm_attack"],
    "check_pgd_attack": ["pgd_attack"],
    "check_adversarial_training_step": ["adversarial_training_step"],
}
GRADE_IDS = list(FUNCTIONS_OF)


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


def fails(grade_id, match, **overrides):
    """Every classic mistake below fails a check the student sees: the grade cell's VISIBLE part."""
    visible_part_fails(NOTEBOOK, grade_id, match, **overrides)


def stub(*_args, **_kwargs):
    raise NotImplementedError("Write your solution here (see the docstring above).")


class eval_mode:
    """with eval_mode(model): ... runs in eval mode and puts the model back (as a student would write it)."""

    def __init__(self, model):
        self.model, self.was = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *_):
        self.model.train(self.was)


# ------------------------------------------------------------------------ the notebook itself
@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_grade_cell_passes_when_every_other_function_is_a_stub(grade_id):
    others = {name: stub for cell, names in FUNCTIONS_OF.items() if cell != grade_id for name in names}
    run(grade_id, **others)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_grade_cell_fails_on_the_stub(grade_id):
    with pytest.raises(NotImplementedError):
        run(grade_id, **{name: stub for name in FUNCTIONS_OF[grade_id]})


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)
    assert graded_ids(NOTEBOOK, "markdown") == ["q_saliency", "q_random_style", "q_black_box"]


# ------------------------------------------------------------------------ nearest neighbours
def neighbours(queries, bank, k, distance="l2", order="nearest", skip=0, as_distances=False):
    if distance == "l2":
        d = np.sqrt(np.maximum(((queries[:, None, :] - bank[None, :, :]) ** 2).sum(-1), 0))
    elif distance == "l1":
        d = np.abs(queries[:, None, :] - bank[None, :, :]).sum(-1)
    else:
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        b = bank / np.linalg.norm(bank, axis=1, keepdims=True)
        d = 1 - q @ b.T
    idx = np.argsort(-d if order == "farthest" else d, axis=1)[:, skip:skip + k]
    return np.take_along_axis(d, idx, 1) if as_distances else idx.astype(np.int64)


@pytest.mark.parametrize("mistake, match", [
    (dict(order="farthest"), "FARTHEST points come first"),
    (dict(distance="cosine"), "cosine similarity"),
    (dict(distance="l1"), "L1 distance"),
    (dict(skip=1), "nearest neighbour is skipped"),
    (dict(as_distances=True), "has dtype float64, expected int64"),
])
def test_nearest_neighbours_mistake_is_named(mistake, match):
    fails("check_nearest_neighbours", match, nearest_neighbours=lambda q, b, k: neighbours(q, b, k, **mistake))


def test_nearest_neighbours_with_a_loop_over_queries_is_named():
    def looped(queries, bank, k):
        return np.stack([np.argsort(np.linalg.norm(bank - q, axis=1))[:k] for q in queries]).astype(np.int64)
    fails("check_nearest_neighbours", "must not loop in Python", nearest_neighbours=looped)


def neighbours_torch(queries, bank, k):
    d = torch.cdist(torch.as_tensor(queries, dtype=torch.float64), torch.as_tensor(bank, dtype=torch.float64))
    return d.topk(k, dim=1, largest=False).indices.numpy()


def neighbours_argpartition(queries, bank, k):
    d = (queries ** 2).sum(1)[:, None] - 2 * queries @ bank.T + (bank ** 2).sum(1)[None]
    part = np.argpartition(d, k - 1, axis=1)[:, :k]
    return np.take_along_axis(part, np.argsort(np.take_along_axis(d, part, 1), axis=1), 1).astype(np.int64)


def neighbours_scipy(queries, bank, k):
    from scipy.spatial.distance import cdist
    return np.argsort(cdist(queries, bank), axis=1, kind="stable")[:, :k].astype(np.int64)


@pytest.mark.parametrize("valid", [neighbours, neighbours_torch, neighbours_argpartition, neighbours_scipy])
def test_nearest_neighbours_written_another_way_passes(valid):
    run("check_nearest_neighbours", nearest_neighbours=valid)


# ------------------------------------------------------------------------ PCA
def pca(features, k, centre=True, standardise=False, order="descending", fix_signs=True, flip=False,
        transposed=False, project_centred=True, dtype=np.float64):
    X = np.asarray(features, dtype=np.float64)
    mean = X.mean(0)
    Xc = X - mean if centre else X
    if standardise:
        Xc = Xc / X.std(0)
    eigenvalues, vectors = np.linalg.eigh(Xc.T @ Xc)                    # ascending
    vectors = vectors.T if order == "ascending" else vectors.T[::-1]
    components = vectors[:k]
    if fix_signs:
        largest = np.argmax(np.abs(components), axis=1)
        components = components * np.sign(components[np.arange(k), largest])[:, None]
    if flip:
        components = components * np.where(np.arange(k) == 0, -1.0, 1.0)[:, None]
    Z = ((X - mean) if project_centred else X) @ components.T
    return Z.astype(dtype), (components.T if transposed else components).astype(dtype)


@pytest.mark.parametrize("mistake, match", [
    (dict(centre=False), "features are not centred"),
    (dict(standardise=True), "correlation matrix"),
    (dict(order="ascending"), "INCREASING order of variance"),
    (dict(flip=True), "opposite sign"),
    (dict(transposed=True), "one principal direction per ROW"),
    (dict(project_centred=False), "without centring them"),
])
def test_pca_mistake_is_named(mistake, match):
    fails("check_pca_project", match, pca_project=lambda X, k: pca(X, k, **mistake))


def test_pca_in_the_input_dtype_is_named():
    fails("check_pca_project", "has dtype float32, expected float64",
          pca_project=lambda X, k: pca(X, k, dtype=np.asarray(X).dtype))


def test_pca_with_sklearn_is_named():
    from sklearn.decomposition import PCA

    def with_sklearn(X, k):
        fitted = PCA(n_components=k, svd_solver="full").fit(np.asarray(X, dtype=np.float64))
        return fitted.transform(np.asarray(X, dtype=np.float64)), fitted.components_
    fails("check_pca_project", "must be written by hand", pca_project=with_sklearn)


def pca_svd_of_covariance(X, k):
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(0)
    U, _, _ = np.linalg.svd(np.cov(centred, rowvar=False))
    components = U.T[:k]
    components *= np.sign(components[np.arange(k), np.abs(components).argmax(1)])[:, None]
    return centred @ components.T, components


@pytest.mark.parametrize("valid", [lambda X, k: pca(X, k), pca_svd_of_covariance])
def test_pca_written_another_way_passes(valid):
    run("check_pca_project", pca_project=valid)


# ------------------------------------------------------------------------ saliency
def saliency(model, x, labels, of="score", reduce="max", absolute=True, explain="labels", eval_=True, restore=True,
             in_place=False):
    was = model.training
    if eval_:
        model.eval()
    if in_place:
        x.requires_grad_(True)
        inputs = x
    else:
        inputs = x.detach().clone().requires_grad_(True)
    scores = model(inputs)
    chosen = scores.argmax(1) if explain == "predicted" else labels
    value = {"score": lambda: scores.gather(1, chosen[:, None]).sum(),
             "loss": lambda: F.cross_entropy(scores, chosen),
             "loss sum": lambda: F.cross_entropy(scores, chosen, reduction="sum"),
             "probability": lambda: F.softmax(scores, 1).gather(1, chosen[:, None]).sum(),
             "all": lambda: scores.sum()}[of]()
    if in_place:
        value.backward()
        g = x.grad
        x.requires_grad_(False)
    else:
        (g,) = torch.autograd.grad(value, inputs)
    if restore:
        model.train(was)
    g = g.abs() if absolute else g
    return {"max": g.amax(1), "sum": g.sum(1), "mean": g.mean(1)}[reduce].detach()


@pytest.mark.parametrize("mistake, match", [
    (dict(of="loss"), r"gradient of the cross-entropy LOSS \(the batch's mean\)"),
    (dict(of="loss sum"), r"LOSS \(summed over the batch\)"),
    (dict(of="probability"), "softmax PROBABILITY"),
    (dict(absolute=False), "absolute value is missing"),
    (dict(reduce="sum"), "channels are summed"),
    (dict(reduce="mean"), "channels are averaged"),
    (dict(explain="predicted"), "explains the PREDICTED class"),
    (dict(of="all"), "SUM of all K scores"),
    (dict(eval_=False), "ran the model in train mode"),
    (dict(restore=False), "left the model in eval mode"),
    (dict(in_place=True), "left a gradient on its input x"),
])
def test_saliency_mistake_is_named(mistake, match):
    fails("check_saliency_map", match, saliency_map=lambda m, x, y: saliency(m, x, y, **mistake))


def saliency_one_by_one(model, x, labels):
    with eval_mode(model):
        maps = []
        for image, label in zip(x, labels):
            image = image[None].clone().requires_grad_(True)
            model(image)[0, label].backward()
            maps.append(image.grad[0].abs().max(dim=0).values)
    return torch.stack(maps)


def saliency_torch_func(model, x, labels):
    with eval_mode(model):
        def score(image, label):
            return torch.func.functional_call(model, dict(model.named_parameters()), (image[None],))[0, label]
        grads = torch.stack([torch.func.grad(score)(image, label) for image, label in zip(x, labels)])
    return grads.abs().amax(1).detach()


@pytest.mark.parametrize("valid", [saliency_one_by_one, saliency_torch_func])
def test_saliency_written_another_way_passes(valid):
    run("check_saliency_map", saliency_map=valid)


# ------------------------------------------------------------------------ occlusion
def occlusion(model, image, label, patch, stride, fill=0.0, use="probability", sign=1.0, cumulative=False,
              fill_value=None, channels=slice(None), in_place=False, size="right", eval_=True):
    was = model.training
    if eval_:
        model.eval()
    C, H, W = image.shape
    rows, cols = ((H - patch) // stride + 1, (W - patch) // stride + 1) if size == "right" else \
        ((H - patch + 1, W - patch + 1) if size == "no stride" else (H // stride, W // stride))
    step = 1 if size == "no stride" else stride
    value = (lambda s: F.softmax(s, 1)[0, label]) if use == "probability" else (lambda s: s[0, label])
    out = torch.zeros(rows, cols, dtype=image.dtype)
    with torch.no_grad():
        base = value(model(image[None]))
        work = image if in_place else image.clone()
        for i in range(rows):
            for j in range(cols):
                occluded = work if (cumulative or in_place) else image.clone()
                occluded[channels, i * step:i * step + patch, j * step:j * step + patch] = \
                    fill if fill_value is None else fill_value
                out[i, j] = sign * (base - value(model(occluded[None])))
    model.train(was)
    return out


@pytest.mark.parametrize("mistake, match", [
    (dict(use="score"), "drop of the raw SCORE"),
    (dict(sign=-1.0), "sign is reversed"),
    (dict(cumulative=True), "patches accumulate"),
    (dict(fill_value=0.0), "fill value is ignored"),
    (dict(channels=0), "only the first channel is covered"),
    (dict(in_place=True), "changed its input image in place"),
    (dict(size="no stride"), "stride is ignored"),
    (dict(size="H // S"), r"not H // S"),
    (dict(eval_=False), "ran the model in train mode"),
])
def test_occlusion_mistake_is_named(mistake, match):
    fails("check_occlusion_map", match,
          occlusion_map=lambda m, im, c, p, s, fill=0.0: occlusion(m, im, c, p, s, fill, **mistake))


def occlusion_unfold(model, image, label, patch, stride, fill=0.0):
    """All occluded copies at once, from a mask built by unfolding an index grid."""
    C, H, W = image.shape
    positions = F.unfold(torch.arange(H * W, dtype=torch.float64).reshape(1, 1, H, W), patch, stride=stride)
    masks = torch.zeros(positions.shape[1] * 0 + positions.shape[-1], H * W, dtype=torch.bool)
    masks[torch.arange(positions.shape[-1])[:, None], positions[0].T.long()] = True
    masks = masks.reshape(-1, 1, H, W)
    copies = torch.where(masks, torch.as_tensor(fill, dtype=image.dtype), image[None])
    with eval_mode(model), torch.no_grad():
        p = F.softmax(model(torch.cat([image[None], copies])), 1)[:, label]
    return (p[0] - p[1:]).reshape((H - patch) // stride + 1, (W - patch) // stride + 1)


@pytest.mark.parametrize("valid", [occlusion, occlusion_unfold])
def test_occlusion_written_another_way_passes(valid):
    run("check_occlusion_map", occlusion_map=valid)


# ------------------------------------------------------------------------ CAM
def cam(features, weight, labels, variant=None):
    N, K, h, w = features.shape
    chosen = F.linear(features.mean((2, 3)), weight).argmax(1) if variant == "predicted" else labels
    square = weight.shape[0] == weight.shape[1]          # the transposed weight only runs when it is square
    rows = weight[:, chosen].T if variant == "transposed" and square else weight[chosen]
    maps = torch.einsum("nkhw,nk->nhw", features, rows)
    if variant == "all":
        return torch.einsum("nkhw,ck->nchw", features, weight)
    if variant == "relu":
        return maps.relu()
    if variant == "hw":
        return maps / (h * w)
    if variant == "minmax":
        low, high = maps.amin((1, 2), keepdim=True), maps.amax((1, 2), keepdim=True)
        return (maps - low) / (high - low)
    if variant == "mean":
        return maps / K
    return maps


@pytest.mark.parametrize("variant, match", [
    ("relu", "a ReLU is applied"),
    ("hw", r"divided by h \* w"),
    ("minmax", r"rescaled to \[0, 1\]"),
    ("mean", "averaged, not summed"),
    ("predicted", "explains the PREDICTED class"),
    ("transposed", "used transposed"),
    ("all", "a map for every class"),
])
def test_cam_mistake_is_named(variant, match):
    fails("check_class_activation_map", match, class_activation_map=lambda f, w, y: cam(f, w, y, variant))


def cam_loop(features, weight, labels):
    out = torch.zeros(features.shape[0], *features.shape[2:], dtype=features.dtype)
    for n in range(features.shape[0]):
        for k in range(features.shape[1]):
            out[n] += weight[labels[n], k] * features[n, k]
    return out


@pytest.mark.parametrize("valid", [cam_loop, lambda f, w, y: (w[y][:, :, None, None] * f).sum(1)])
def test_cam_written_another_way_passes(valid):
    run("check_class_activation_map", class_activation_map=valid)


# ------------------------------------------------------------------------ Grad-CAM
def gradcam(model, layer, x, labels, variant=None, eval_=True):
    was = model.training
    if eval_:
        model.eval()
    store = {}
    handle = layer.register_forward_hook(lambda m, i, o: store.__setitem__("A", o))
    scores = model(x)
    handle.remove()
    A = store["A"]
    value = {"loss": lambda: F.cross_entropy(scores, labels),
             "probability": lambda: F.softmax(scores, 1).gather(1, labels[:, None]).sum()}.get(
        variant, lambda: scores.gather(1, labels[:, None]).sum())()
    (G,) = torch.autograd.grad(value, A)
    model.train(was)
    if variant == "relu on gradients":
        G = G.relu()
    alpha = G if variant == "no pooling" else (G.sum((2, 3), True) if variant == "sum" else G.mean((2, 3), True))
    maps = (alpha * A).sum(1).detach()
    return {"no relu": maps, "abs": maps.abs()}.get(variant, maps.relu())


@pytest.mark.parametrize("variant, match", [
    ("no relu", "ReLU is missing"),
    ("abs", "absolute value is taken"),
    ("sum", "alpha SUMS the gradients"),
    ("no pooling", "not averaged per channel"),
    ("relu on gradients", "ReLU is applied to the gradients"),
    ("loss", "gradient of the LOSS"),
    ("probability", "softmax PROBABILITY"),
])
def test_grad_cam_mistake_is_named(variant, match):
    fails("check_grad_cam", match, grad_cam=lambda m, layer, x, y: gradcam(m, layer, x, y, variant))


def test_grad_cam_in_train_mode_is_named():
    fails("check_grad_cam", "ran the model in train mode",
          grad_cam=lambda m, layer, x, y: gradcam(m, layer, x, y, eval_=False))


def gradcam_retain_grad(model, layer, x, labels):
    with eval_mode(model):
        kept = []

        def keep(module, inputs, output):
            output.retain_grad()
            kept.append(output)

        handle = layer.register_forward_hook(keep)
        try:
            model(x.clone()).gather(1, labels[:, None]).sum().backward()
        finally:
            handle.remove()
    A = kept[0]
    model.zero_grad()
    return F.relu((A.grad.mean((2, 3), keepdim=True) * A).sum(1)).detach()


def gradcam_backward_hook(model, layer, x, labels):
    with eval_mode(model):
        store = {}
        handles = [layer.register_forward_hook(lambda m, i, o: store.__setitem__("A", o.detach())),
                   layer.register_full_backward_hook(lambda m, gi, go: store.__setitem__("G", go[0]))]
        try:
            model(x.clone().requires_grad_(True)).gather(1, labels[:, None]).sum().backward()
        finally:
            for handle in handles:
                handle.remove()
    return (store["G"].mean((2, 3))[:, :, None, None] * store["A"]).sum(1).clamp(min=0)


@pytest.mark.parametrize("valid", [gradcam_retain_grad, gradcam_backward_hook])
def test_grad_cam_written_another_way_passes(valid):
    run("check_grad_cam", grad_cam=valid)


# ------------------------------------------------------------------------ gradient ascent
def ascent(model, images, labels, lr, l2_reg, variant=None, eval_=True):
    was = model.training
    if eval_:
        model.eval()
    x = images.detach().clone().requires_grad_(True)
    scores = model(x)
    value = {"loss": lambda: F.cross_entropy(scores, labels, reduction="sum"),
             "probability": lambda: F.softmax(scores, 1).gather(1, labels[:, None]).sum()}.get(
        variant, lambda: scores.gather(1, labels[:, None]).sum())()
    (g,) = torch.autograd.grad(value, x)
    model.train(was)
    if variant == "normalised":
        g = g / g.flatten(1).norm(dim=1)[:, None, None, None]
    if variant == "loss":                                   # "descend the loss"
        g = -g
    penalty = {"added": -2 * l2_reg * images, "half": l2_reg * images}.get(variant, 2 * l2_reg * images)
    step = lr * (g - penalty)
    if variant == "in place":
        images += step
        return images.clone()
    return images - step if variant == "descent" else images + step


@pytest.mark.parametrize("variant, match", [
    ("added", "penalty is ADDED"),
    ("half", "no factor 1/2"),
    ("descent", "DESCENT step"),
    ("loss", "follows the gradient of the cross-entropy LOSS"),
    ("loss ascent", "ascends the LOSS"),
    ("probability", "softmax PROBABILITY"),
    ("normalised", "gradient is normalised"),
    ("in place", "changed its input images in place"),
])
def test_ascent_step_mistake_is_named(variant, match):
    def wrong(model, images, labels, lr, l2_reg):
        if variant == "loss ascent":
            x = images.detach().clone().requires_grad_(True)
            with eval_mode(model):
                (g,) = torch.autograd.grad(F.cross_entropy(model(x), labels, reduction="sum"), x)
            return images + lr * (g - 2 * l2_reg * images)
        return ascent(model, images, labels, lr, l2_reg, variant)
    fails("check_ascent_step", match, ascent_step=wrong)


def test_ascent_step_in_train_mode_is_named():
    fails("check_ascent_step", "ran the model in train mode",
          ascent_step=lambda m, im, y, lr, reg: ascent(m, im, y, lr, reg, eval_=False))


def ascent_through_the_objective(model, images, labels, lr, l2_reg):
    """Autograd differentiates the whole objective J, penalty included, and backward() on a leaf."""
    with eval_mode(model):
        x = images.detach().clone().requires_grad_(True)
        J = model(x).gather(1, labels[:, None]).sum() - l2_reg * (x ** 2).sum()
        J.backward()
    return (images + lr * x.grad).detach()


@pytest.mark.parametrize("valid", [ascent, ascent_through_the_objective])
def test_ascent_step_written_another_way_passes(valid):
    run("check_ascent_step", ascent_step=valid)


# ------------------------------------------------------------------------ total variation
def tv(images, variant=None):
    down = images[:, :, 1:] - images[:, :, :-1]
    right = images[..., 1:] - images[..., :-1]
    if variant == "wrap":
        down, right = torch.roll(images, -1, 2) - images, torch.roll(images, -1, 3) - images
    power = (lambda d: d.abs()) if variant == "abs" else (lambda d: d ** 2)
    reduce = torch.mean if variant == "mean" else torch.sum
    parts = {"down only": [down], "right only": [right]}.get(variant, [down, right])
    if variant == "mean":
        return torch.cat([power(p).flatten() for p in parts]).mean()
    total = sum(reduce(power(p)) for p in parts)
    return {"per image": lambda: total / images.shape[0], "sqrt": lambda: total.sqrt()}.get(variant, lambda: total)()


@pytest.mark.parametrize("variant, match", [
    ("abs", "ABSOLUTE differences"),
    ("mean", "MEANS the squared differences"),
    ("per image", "divided by the number of images"),
    ("down only", "only the vertical differences"),
    ("right only", "only the horizontal differences"),
    ("wrap", "wraps around"),
    ("sqrt", "square root of the sum"),
])
def test_total_variation_mistake_is_named(variant, match):
    fails("check_total_variation", match, total_variation=lambda images: tv(images, variant))


def test_total_variation_through_numpy_is_named():
    def through_numpy(images):
        x = images.detach().numpy()
        value = ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum() + ((x[..., 1:] - x[..., :-1]) ** 2).sum()
        return torch.tensor(value, dtype=images.dtype)
    fails("check_total_variation", "not differentiable", total_variation=through_numpy)


def test_total_variation_returning_a_float_is_named():
    fails("check_total_variation", "should return a 0-d tensor", total_variation=lambda images: float(tv(images)))


def tv_row_loop(images):
    total = images.new_zeros(())
    for i in range(images.shape[2] - 1):
        total = total + ((images[:, :, i + 1] - images[:, :, i]) ** 2).sum()
    return total + torch.diff(images, dim=3).pow(2).sum()


@pytest.mark.parametrize("valid", [tv, tv_row_loop])
def test_total_variation_written_another_way_passes(valid):
    run("check_total_variation", total_variation=valid)


# ------------------------------------------------------------------------ feature inversion
def invert(feature_fn, target, init, steps, lr, regulariser, zero_grad=True, clamp="each", reduce=torch.sum,
           use_regulariser=True, optimizer_class=torch.optim.Adam, steps_delta=0, in_place=False):
    image = init.requires_grad_(True) if in_place else init.detach().clone().requires_grad_(True)
    optimizer = optimizer_class([image], lr=lr)
    for _ in range(steps + steps_delta):
        if zero_grad:
            optimizer.zero_grad()
        loss = reduce((feature_fn(image) - target) ** 2) + (regulariser(image) if use_regulariser else 0)
        loss.backward()
        optimizer.step()
        if clamp == "each":
            with torch.no_grad():
                image.clamp_(0, 1)
    if in_place:
        init.requires_grad_(False)
    return image.detach().clamp(0, 1) if clamp == "end" else image.detach().clone()


@pytest.mark.parametrize("mistake, match", [
    (dict(zero_grad=False), "gradients ACCUMULATE across steps"),
    (dict(clamp="never"), r"(not clipped to \[0, 1\])|(at the end \(or never\))"),
    (dict(clamp="end"), "clipped only once, at the end"),
    (dict(reduce=torch.mean), "feature loss is a MEAN"),
    (dict(use_regulariser=False), "regulariser is ignored"),
    (dict(optimizer_class=torch.optim.SGD), "plain SGD"),
    (dict(steps_delta=-1), r"ran \d+ steps instead of"),
    (dict(steps_delta=1), r"ran \d+ steps instead of"),
    (dict(in_place=True), "changed its input init in place"),
])
def test_invert_features_mistake_is_named(mistake, match):
    fails("check_invert_features", match,
          invert_features=lambda fn, t, init, steps, lr, reg: invert(fn, t, init, steps, lr, reg, **mistake))


def invert_mse_grad_none(feature_fn, target, init, steps, lr, regulariser):
    image = init.clone().detach().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=lr)
    for _ in range(steps):
        image.grad = None
        (F.mse_loss(feature_fn(image), target, reduction="sum") + regulariser(image)).backward()
        optimizer.step()
        image.data.clamp_(0.0, 1.0)
    return image.detach()


@pytest.mark.parametrize("valid", [invert, invert_mse_grad_none])
def test_invert_features_written_another_way_passes(valid):
    run("check_invert_features", invert_features=valid)


# ------------------------------------------------------------------------ Gram matrix
def gram(features, variant=None):
    N, C, H, W = features.shape
    if variant == "positions":
        flat = features.reshape(N, C, H * W)
        return flat.transpose(1, 2) @ flat / (C * H * W)
    if variant == "batch merged":
        flat = features.transpose(0, 1).reshape(C, -1)
        return flat @ flat.T / (N * C * H * W)
    if variant == "centred":
        features = features - features.mean((2, 3), keepdim=True)
    flat = features.reshape(N, C, H * W)
    raw = flat @ flat.transpose(1, 2)
    return {"raw": raw, "hw": raw / (H * W), "nchw": raw / (N * C * H * W), "c2": raw / C ** 2}.get(
        variant, raw / (C * H * W))


@pytest.mark.parametrize("variant, match", [
    ("raw", "not normalised"),
    ("hw", r"divided by H \* W only"),
    ("nchw", r"divided by N \* C \* H \* W"),
    ("c2", r"divided by C\^2"),
    ("centred", "means are subtracted"),
    ("positions", "correlates POSITIONS"),
    ("batch merged", "one \\(C, C\\) matrix for the whole batch"),
])
def test_gram_matrix_mistake_is_named(variant, match):
    fails("check_gram_matrix", match, gram_matrix=lambda f: gram(f, variant))


def gram_loops(features):
    N, C, H, W = features.shape
    G = features.new_zeros(N, C, C)
    for a in range(C):
        for b in range(C):
            G[:, a, b] = (features[:, a] * features[:, b]).sum((1, 2)) / (C * H * W)
    return G


@pytest.mark.parametrize("valid", [gram, gram_loops,
                                   lambda f: torch.bmm(f.flatten(2), f.flatten(2).transpose(1, 2)) / f[0].numel()])
def test_gram_matrix_written_another_way_passes(valid):
    run("check_gram_matrix", gram_matrix=valid)


# ------------------------------------------------------------------------ style and content losses
def the_gram(features):
    N, C, H, W = features.shape
    flat = features.reshape(N, C, H * W)
    return flat @ flat.transpose(1, 2) / (C * H * W)


def style(features, grams, weights, gram=None, variant=None):
    gram = the_gram if gram is None or variant == "ignore gram" else gram
    terms = []
    for f, a, w in zip(features, grams, weights):
        d = gram(f) - a
        terms.append({"mean": lambda: w * (d ** 2).mean(), "unweighted": lambda: (d ** 2).sum(),
                      "unsquared": lambda: w * d.sum(), "norm": lambda: w * d.norm(),
                      "inside": lambda: ((w * d) ** 2).sum()}.get(variant, lambda: w * (d ** 2).sum())())
    return sum(terms)


def content(features, target, weight, variant=None):
    squares = (features - target) ** 2
    return {"mean": lambda: weight * squares.mean(), "half": lambda: weight * squares.sum() / 2,
            "unweighted": lambda: squares.sum(), "squared": lambda: weight ** 2 * squares.sum()}.get(
        variant, lambda: weight * squares.sum())()


@pytest.mark.parametrize("variant, match", [
    ("mean", "style_loss.*MEANED"),
    ("unweighted", "layer weights are ignored"),
    ("unsquared", "not squared"),
    ("norm", "Frobenius NORM"),
    ("inside", "weight is inside the square"),
    ("ignore gram", "`gram` argument is ignored"),
])
def test_style_loss_mistake_is_named(variant, match):
    fails("check_style_losses", match, style_loss=lambda f, g, w, gram=None: style(f, g, w, gram, variant))


@pytest.mark.parametrize("variant, match", [
    ("mean", "content_loss.*MEANED"),
    ("half", "factor 1/2"),
    ("unweighted", "weight is ignored"),
    ("squared", "weight is squared"),
])
def test_content_loss_mistake_is_named(variant, match):
    fails("check_style_losses", match, content_loss=lambda f, t, w: content(f, t, w, variant))


def test_style_losses_pass_with_a_broken_gram_matrix():
    run("check_style_losses", gram_matrix=lambda features: gram(features, "raw"))


def style_with_norms(features, grams, weights, gram=None):
    return sum(w * torch.linalg.matrix_norm(gram(f) - a).pow(2).sum() for f, a, w in zip(features, grams, weights))


@pytest.mark.parametrize("valid_style, valid_content", [
    (style, content),
    (style_with_norms, lambda f, t, w: w * F.mse_loss(f, t, reduction="sum")),
])
def test_style_losses_written_another_way_pass(valid_style, valid_content):
    run("check_style_losses", style_loss=valid_style, content_loss=valid_content)


# ------------------------------------------------------------------------ FGSM
def fgsm(model, x, labels, eps, targeted=False, use_sign=True, of="loss", direction=None, clip=True, eval_=True,
         restore=True, in_place=False):
    was = model.training
    if eval_:
        model.eval()
    inputs = x.requires_grad_(True) if in_place else x.detach().clone().requires_grad_(True)
    scores = model(inputs)
    value = F.cross_entropy(scores, labels) if of == "loss" else scores.gather(1, labels[:, None]).sum()
    value.backward()
    g = inputs.grad
    if in_place:
        x.requires_grad_(False)
    if restore:
        model.train(was)
    sign = (-1.0 if targeted else 1.0) if direction is None else direction
    out = x.detach() + sign * eps * (g.sign() if use_sign else g)
    return out.clamp(0, 1) if clip else out


@pytest.mark.parametrize("mistake, match", [
    (dict(use_sign=False), "SIGN is missing"),
    (dict(of="score", direction=-1.0), "gradient of the class SCORE s_y"),
    (dict(of="score", direction=1.0), "SCORE's gradient the wrong way round"),
    (dict(direction=-1.0), "untargeted attack DESCENDS the loss"),
    (dict(clip=False), r"clip the result to the image range \[0, 1\]"),
    (dict(eval_=False), "ran the model in train mode"),
    (dict(restore=False), "left the model in eval mode"),
    (dict(in_place=True), "left a gradient on its input x"),
])
def test_fgsm_mistake_is_named(mistake, match):
    fails("check_fgsm_attack", match,
          fgsm_attack=lambda m, x, y, eps, targeted=False: fgsm(m, x, y, eps, targeted, **mistake))


def test_targeted_fgsm_in_the_wrong_direction_is_named():
    fails("check_fgsm_attack", "targeted attack ASCENDS the target's loss",
          fgsm_attack=lambda m, x, y, eps, targeted=False: fgsm(m, x, y, eps, targeted, direction=1.0))


def fgsm_summed_loss(model, x, labels, eps, targeted=False):
    """The sum of the losses (the sign is the same), with torch.func.grad."""
    with eval_mode(model):
        def loss(images):
            return F.cross_entropy(torch.func.functional_call(model, dict(model.named_parameters()), (images,)),
                                   labels, reduction="sum")
        g = torch.func.grad(loss)(x)
    return torch.clamp(x + (-eps if targeted else eps) * torch.sign(g), min=0.0, max=1.0).detach()


@pytest.mark.parametrize("valid", [fgsm, fgsm_summed_loss])
def test_fgsm_written_another_way_passes(valid):
    run("check_fgsm_attack", fgsm_attack=valid)


# ------------------------------------------------------------------------ PGD
def pgd(model, x, labels, eps, alpha, steps, targeted=False, init_noise=None, project="after", clip=True,
        accumulate=False, of="loss", use_sign=True, use_noise=True, steps_delta=0, direction=None, eval_=True,
        clip_first=False):
    was = model.training
    if eval_:
        model.eval()
    start = x.clone() if init_noise is None or not use_noise else (x + eps * init_noise).clamp(0, 1)
    x_adv = start.detach().requires_grad_(True)
    sign = (-1.0 if targeted else 1.0) if direction is None else direction
    for _ in range(steps + steps_delta):
        if project == "before":
            with torch.no_grad():
                x_adv.copy_(x + (x_adv - x).clamp(-eps, eps))
        scores = model(x_adv)
        if of == "loss":
            value = F.cross_entropy(scores, labels)
        else:
            value = -scores.gather(1, labels[:, None]).sum() if not targeted else scores.gather(1, labels[:, None]).sum()
            sign = 1.0
        if not accumulate and x_adv.grad is not None:
            x_adv.grad.zero_()
        value.backward()
        with torch.no_grad():
            x_adv += sign * alpha * (x_adv.grad.sign() if use_sign else x_adv.grad)
            if clip and clip_first:
                x_adv.clamp_(0, 1)
            if project == "after":
                x_adv.copy_(torch.max(torch.min(x_adv, x + eps), x - eps))
            if clip and not clip_first:
                x_adv.clamp_(0, 1)
    model.train(was)
    return x_adv.detach()


@pytest.mark.parametrize("mistake, match", [
    (dict(project="never"), "projection onto the eps-ball is skipped"),
    (dict(project="before"), "projection comes BEFORE the step"),
    (dict(clip=False), r"clip to the image range \[0, 1\]"),
    (dict(accumulate=True), "gradients ACCUMULATE across steps"),
    (dict(of="score"), "gradient of the class SCORE"),
    (dict(use_sign=False), "SIGN is missing"),
    (dict(use_noise=False), "init_noise is ignored"),
    (dict(steps_delta=-1), r"ran \d+ steps instead of"),
    (dict(direction=-1.0), "untargeted attack DESCENDS the loss"),
    (dict(eval_=False), "ran the model in train mode"),
])
def test_pgd_mistake_is_named(mistake, match):
    fails("check_pgd_attack", match, pgd_attack=lambda m, x, y, eps, alpha, steps, targeted=False, init_noise=None:
          pgd(m, x, y, eps, alpha, steps, targeted, init_noise, **mistake))


def test_targeted_pgd_in_the_wrong_direction_is_named():
    fails("check_pgd_attack", "targeted attack ASCENDS the target's loss",
          pgd_attack=lambda m, x, y, eps, alpha, steps, targeted=False, init_noise=None:
          pgd(m, x, y, eps, alpha, steps, targeted, init_noise, direction=1.0))


def pgd_fresh_leaves(model, x, labels, eps, alpha, steps, targeted=False, init_noise=None):
    with eval_mode(model):
        x_adv = x if init_noise is None else torch.clamp(x + eps * init_noise, 0, 1)
        for _ in range(steps):
            x_adv = x_adv.detach().requires_grad_(True)
            loss = F.cross_entropy(model(x_adv), labels, reduction="sum")
            (g,) = torch.autograd.grad(loss, x_adv)
            x_adv = x_adv + (-alpha if targeted else alpha) * g.sign()
            x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.detach()


@pytest.mark.parametrize("valid", [pgd, pgd_fresh_leaves, lambda *a, **k: pgd(*a, **k, clip_first=True)])
def test_pgd_written_another_way_passes(valid):
    run("check_pgd_attack", pgd_attack=valid)


# ------------------------------------------------------------------------ adversarial training
def training_step(model, optimizer, x, labels, attack, on="adversarial", zero_first=False, train=True,
                  reduction="mean", step=True, as_tensor=False):
    if zero_first:
        optimizer.zero_grad()
    x_adv = attack(model, x, labels)
    if train:
        model.train()
    if not zero_first:
        optimizer.zero_grad()
    loss = F.cross_entropy(model(x_adv if on == "adversarial" else x), labels, reduction=reduction)
    loss.backward()
    if step:
        optimizer.step()
    return loss.detach() if as_tensor else loss.item()


@pytest.mark.parametrize("mistake, match", [
    (dict(on="clean"), "trains on the CLEAN images"),
    (dict(zero_first=True), "attack's gradients leak into the update"),
    (dict(train=False), "left the model in eval mode"),
    (dict(reduction="sum"), "SUMMED over the batch"),
    (dict(step=False), "no optimizer step was taken"),
    (dict(as_tensor=True), "as a Python float"),
])
def test_adversarial_training_step_mistake_is_named(mistake, match):
    fails("check_adversarial_training_step", match,
          adversarial_training_step=lambda m, opt, x, y, attack: training_step(m, opt, x, y, attack, **mistake))


def training_step_model_zero_grad(model, optimizer, x, labels, attack):
    x_adv = attack(model, x, labels).detach()
    model.train(True)
    model.zero_grad(set_to_none=False)
    loss = F.cross_entropy(model(x_adv), labels)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@pytest.mark.parametrize("valid", [training_step, training_step_model_zero_grad])
def test_adversarial_training_step_written_another_way_passes(valid):
    run("check_adversarial_training_step", adversarial_training_step=valid)
