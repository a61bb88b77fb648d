"""A convolution explorer on a real photo, and the filters and feature maps of a trained CNN.

Notebook 06_cnn. The pure functions compute what is drawn and are tested without a browser:

- `parse_kernel(text)`: a kernel typed as rows separated by ";" (e.g. "1 0 -1; 2 0 -2; 1 0 -1");
- `apply_kernel(image, kernel, stride, padding)`: one 2-D cross-correlation of a gray image
  with one kernel (zero padding), computed by `torch.nn.functional.conv2d`; returns the
  output array and its shape;
- `feature_maps(weight, bias, image)`: every first-layer feature map of a CNN for one image;
- `output_display(kernel, output)`: a picture in gray, or a signed response on a centred map;
- `panel_scale(figsize, input_shape, output_shape)`: one inches-per-pixel scale for input and output.

`convolution_explorer()` wraps the first two in controls (preset kernels, an editable
kernel, stride, padding) and `feature_map_explorer(weight, bias, images, labels)` shows a
trained network's first-layer filters next to what they make of one chosen image. The
convolution here is torch's, never the student's: the explorer works before the student's
code does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

PRESET_KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32),
    "box blur": np.full((3, 3), 1.0 / 9.0, dtype=np.float32),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32),
    "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32),
    "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32),
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32),
}
CUSTOM = "custom (typed below)"
# 860 x 440 pixels at 100 dpi: beside the 300-380 px control column, it fits a 1366 x 768 screen.
EXPLORER_FIGSIZE = (8.6, 4.4)


def parse_kernel(text: str) -> np.ndarray:
    """A kernel typed as text: rows separated by ";" (or new lines), numbers by spaces or commas.

    "1 0 -1; 2 0 -2; 1 0 -1" -> array of shape (3, 3). Fractions such as "1/9" are allowed.
    Returns a float32 array of shape (KH, KW). Raises ValueError for ragged or non-numeric text.
    """
    rows = [row.replace(",", " ").split() for row in text.replace("\n", ";").split(";")]
    rows = [row for row in rows if row]
    if not rows:
        raise ValueError("the kernel is empty: type rows like '1 0 -1; 2 0 -2; 1 0 -1'")
    if len({len(row) for row in rows}) != 1:
        raise ValueError(f"every row of the kernel needs the same number of entries, got {[len(r) for r in rows]}")

    def number(token: str) -> float:
        try:
            if "/" in token:
                numerator, denominator = token.split("/", 1)
                return float(numerator) / float(denominator)
            return float(token)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{token!r} is not a number") from None

    return np.array([[number(token) for token in row] for row in rows], dtype=np.float32)


def apply_kernel(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Cross-correlate a gray image with one kernel, as a conv layer does (no flip, zero padding).

    image: (H, W) float array; kernel: (KH, KW); stride, padding: ints (same in both directions).
    Returns (output, shape): output (H', W') float32 with
    H' = floor((H + 2 padding - KH) / stride) + 1 (likewise W'), and shape == (H', W').
    Raises ValueError when the kernel does not fit in the padded image.
    """
    image, kernel = np.asarray(image, dtype=np.float32), np.asarray(kernel, dtype=np.float32)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"expected a 2-D image and a 2-D kernel, got shapes {image.shape} and {kernel.shape}")
    if stride < 1 or padding < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got stride={stride}, padding={padding}")
    if any(k > n + 2 * padding for k, n in zip(kernel.shape, image.shape)):
        raise ValueError(f"a {kernel.shape} kernel does not fit in a {image.shape} image padded by {padding}")
    with torch.no_grad():
        out = F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None],
                       stride=stride, padding=padding)[0, 0].numpy()
    return out, (int(out.shape[0]), int(out.shape[1]))


def feature_maps(weight: np.ndarray, bias: np.ndarray | None, image: np.ndarray) -> np.ndarray:
    """First-layer feature maps (before the nonlinearity) of one image, with "same" zero padding.

    weight: (F, C, KH, KW) with odd KH, KW; bias: (F,) or None; image: (C, H, W) or, for C = 1, (H, W).
    Returns (F, H, W) float32: map f is bias[f] + sum over c of image[c] cross-correlated with weight[f, c].
    """
    weight = torch.as_tensor(np.asarray(weight, dtype=np.float32))
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[0] != weight.shape[1]:
        raise ValueError(f"expected an image of shape ({weight.shape[1]}, H, W), got {tuple(x.shape)}")
    b = None if bias is None else torch.as_tensor(np.asarray(bias, dtype=np.float32))
    with torch.no_grad():
        out = F.conv2d(x[None], weight, b, padding=(weight.shape[2] // 2, weight.shape[3] // 2))
    return out[0].numpy()


def output_display(kernel: np.ndarray, output: np.ndarray) -> dict:
    """How to draw a convolution's output: as a picture, or as a signed response.

    A kernel whose entries sum to a positive number (identity, blur, sharpen: about 1) keeps flat
    regions bright: its output is a picture, drawn in gray on the input's scale [0, 1] (values
    outside are clipped). A kernel that sums to 0 or less (Sobel, Laplacian) answers 0 on flat
    regions and +/- at edges: a red-blue map centred on 0, symmetric, clipped at the 99th
    percentile of |output| so that a few strong edges do not wash out the rest.
    Returns dict(kind="image" or "signed", cmap, vmin, vmax, label) for imshow and its colour bar.
    """
    total = float(np.sum(kernel))
    if total > 1e-6 * max(float(np.abs(kernel).sum()), 1e-12):
        return {"kind": "image", "cmap": "gray", "vmin": 0.0, "vmax": 1.0,
                "label": "intensity (clipped to [0, 1])"}
    limit = float(np.percentile(np.abs(output), 99)) or float(np.abs(output).max()) or 1.0
    return {"kind": "signed", "cmap": "RdBu_r", "vmin": -limit, "vmax": limit,
            "label": "response (red > 0 > blue)"}


def _no_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_kernel(ax, kernel: np.ndarray, title: str) -> None:
    """The kernel's numbers on a red-blue map centred on 0 (a kernel is signed; drawn enlarged)."""
    limit = float(np.abs(kernel).max()) or 1.0
    ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if kernel.size <= 49:
        for (i, j), value in np.ndenumerate(kernel):
            ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=8,
                    color="white" if abs(value) > 0.6 * limit else "black")
    _no_ticks(ax)
    ax.set_title(title, fontsize=9)


# Layout of draw_convolution, in inches: margins, the gap between panels, the enlarged kernel panel,
# the colour bar and room for its labels, the title band.
_MARGIN, _GAP, _KERNEL, _BAR, _BAR_LABELS, _TOP, _BOTTOM = 0.2, 0.3, 1.2, 0.12, 0.75, 0.95, 0.15
_OUTPUT_COLUMN = 1.5  # the output's column is at least this wide (its title must not run into the kernel's)


def panel_scale(figsize: tuple[float, float], input_shape: tuple[int, int], output_shape: tuple[int, int]) -> float:
    """Inches per pixel that fit the padded input and the output side by side, both at that one scale.

    input_shape: (H + 2 padding, W + 2 padding); output_shape: (H', W').
    """
    width = figsize[0] - 2 * _MARGIN - 3 * _GAP - _KERNEL - _BAR - _BAR_LABELS
    height = figsize[1] - _TOP - _BOTTOM
    return min(width / (input_shape[1] + output_shape[1]), (width - _OUTPUT_COLUMN) / input_shape[1],
               height / max(input_shape[0], output_shape[0]))


def draw_convolution(fig, image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 1,
                     kernel_name: str = "") -> None:
    """Zero-padded input photo, the kernel with its numbers, and the output with a colour bar.

    The input and the output are drawn at ONE scale (the same size on screen per pixel), so a
    stride-2 output is half as wide and half as high as the input. The dashed frame marks the
    image inside its zero padding; the orange square is the window of output pixel (0, 0).
    Axes, in order: input, kernel, output, colour bar.
    """
    output, shape = apply_kernel(image, kernel, stride, padding)
    padded = np.pad(np.asarray(image, dtype=np.float32), padding)
    fig_w, fig_h = fig.get_size_inches()
    largest = (padded.shape[0] - kernel.shape[0] + 1, padded.shape[1] - kernel.shape[1] + 1)   # at stride 1
    scale = panel_scale((fig_w, fig_h), padded.shape, largest)  # so the input keeps its size when the stride changes
    top = fig_h - _TOP

    def add_axes(left: float, width: float, height: float):
        return fig.add_axes([left / fig_w, (top - height) / fig_h, width / fig_w, height / fig_h])

    in_w, in_h = padded.shape[1] * scale, padded.shape[0] * scale
    ax_in = add_axes(_MARGIN, in_w, in_h)
    ax_in.imshow(padded, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    height, width = image.shape
    ax_in.add_patch(Rectangle((padding - 0.5, padding - 0.5), width, height, fill=False, color="tab:cyan",
                              linestyle="--", linewidth=1))
    ax_in.add_patch(Rectangle((-0.5, -0.5), kernel.shape[1], kernel.shape[0], fill=False, color="tab:orange",
                              linewidth=1.5))
    _no_ticks(ax_in)
    ax_in.set_title(f"input {height} x {width}\n(padding {padding}: dashed frame)", fontsize=9)

    left = _MARGIN + in_w + _GAP
    ax_kernel = add_axes(left, _KERNEL, _KERNEL)
    _draw_kernel(ax_kernel, kernel, f"kernel {kernel_name}\n{kernel.shape[0]} x {kernel.shape[1]}, "
                                    f"sum {kernel.sum():.3g} (enlarged)")

    left += _KERNEL + _GAP
    display = output_display(kernel, output)
    out_w, out_h = shape[1] * scale, shape[0] * scale
    left += max(0.0, _OUTPUT_COLUMN - out_w) / 2
    ax_out = add_axes(left, out_w, out_h)
    picture = ax_out.imshow(output, cmap=display["cmap"], vmin=display["vmin"], vmax=display["vmax"],
                            interpolation="nearest")
    _no_ticks(ax_out)
    ax_out.set_title(f"output {shape[0]} x {shape[1]}\n(stride {stride}, padding {padding})", fontsize=9)
    ax_bar = add_axes(left + out_w + 0.08, _BAR, max(out_h, 1.0))
    bar = fig.colorbar(picture, cax=ax_bar)
    bar.set_label(display["label"], fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.text(0.5, 1 - 0.1 / fig_h, "output = kernel slid over the zero-padded input (cross-correlation), "
             f"values in [{output.min():.2f}, {output.max():.2f}]\ninput and output drawn to one scale; "
             "orange: the window of output pixel (0, 0)", ha="center", va="top", fontsize=9)


def convolution_explorer(kernel: str = "Sobel x", stride: int = 1, padding: int = 1, downscale: int = 2):
    """Controls: a preset kernel (or a typed one), stride and padding; redraws input, kernel and output.

    The photo is matplotlib's portrait of Grace Hopper in gray, shrunk by `downscale`.
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.data import load_photo
    from dlcourse.widgets.base import interactive_figure

    image = load_photo(gray=True, downscale=downscale)

    def draw(fig, kernel, custom, stride, padding):
        try:
            weights = parse_kernel(custom) if kernel == CUSTOM else PRESET_KERNELS[kernel]
            draw_convolution(fig, image, weights, stride, padding, kernel_name="" if kernel == CUSTOM else kernel)
        except ValueError as error:  # a half-typed custom kernel: say so instead of raising
            ax = fig.add_subplot(1, 1, 1)
            ax.text(0.5, 0.5, f"cannot use this kernel:\n{error}", ha="center", va="center", wrap=True)
            ax.set_axis_off()

    controls = {
        "kernel": widgets.Dropdown(options=[*PRESET_KERNELS, CUSTOM], value=kernel, description="kernel"),
        "custom": widgets.Text(value="1 0 -1; 1 0 -1; 1 0 -1", description="custom",
                               placeholder="rows separated by ;"),
        "stride": widgets.IntSlider(value=stride, min=1, max=8, description="stride"),
        "padding": widgets.IntSlider(value=padding, min=0, max=10, description="padding"),
    }
    return interactive_figure(draw, controls, figsize=EXPLORER_FIGSIZE)


def draw_feature_maps(fig, weight: np.ndarray, bias: np.ndarray | None, image: np.ndarray, label: str = "",
                      columns: int = 8) -> None:
    """The input image, and for each first-layer filter the filter and below it its feature map.

    Filters are laid out `columns` to a row (each row of filters followed by a row of their maps).
    The input and the maps (same size: "same" padding) are drawn at one scale, in gray; each map is
    shown after the ReLU on its own scale, its maximum in the title. The filters are signed: one
    red-blue scale centred on 0 for all of them (drawn enlarged), with a colour bar.
    Axes, in order: input, then filter f and map f for each f, then the colour bar.
    """
    maps = np.maximum(feature_maps(weight, bias, image), 0.0)  # after the ReLU, as the network sees them
    num_filters = weight.shape[0]
    columns = min(columns, num_filters)
    blocks = -(-num_filters // columns)
    grid = fig.add_gridspec(2 * blocks, columns + 2, width_ratios=[1] + [1] * columns + [0.08],
                            hspace=0.5, wspace=0.12, left=0.02, right=0.93, top=0.86, bottom=0.03)
    picture = np.asarray(image)
    gray = picture if picture.ndim == 2 else picture.mean(axis=0)
    ax = fig.add_subplot(grid[1, 0])
    ax.imshow(gray, cmap="gray", vmin=min(0.0, float(gray.min())), vmax=max(1.0, float(gray.max())))
    ax.set_title(f"input {label}".strip(), fontsize=8)
    _no_ticks(ax)
    filters = weight.mean(axis=1)                                  # averaged over the input channels
    limit = float(np.abs(filters).max()) or 1.0
    for f in range(num_filters):
        row, col = divmod(f, columns)
        ax = fig.add_subplot(grid[2 * row, col + 1])
        shown = ax.imshow(filters[f], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"filter {f}", fontsize=8)
        _no_ticks(ax)
        ax = fig.add_subplot(grid[2 * row + 1, col + 1])
        ax.imshow(maps[f], cmap="gray", vmin=0.0, vmax=max(float(maps[f].max()), 1e-8))
        ax.set_title(f"max {maps[f].max():.2f}", fontsize=8)
        _no_ticks(ax)
    bar = fig.colorbar(shown, cax=fig.add_subplot(grid[0, columns + 1]))
    bar.ax.tick_params(labelsize=7)
    bar.set_label("weight", fontsize=8)
    fig.suptitle("first-layer filters (enlarged; red > 0 > blue; mean over the input channels)\n"
                 "under each: its feature map after the ReLU (gray, drawn at the input's scale)", fontsize=9)


def feature_map_explorer(weight: np.ndarray, bias: np.ndarray | None, images: np.ndarray, labels=None):
    """A slider over `images` (N, H, W) or (N, C, H, W); shows `draw_feature_maps` for the chosen one.

    weight (F, C, KH, KW) and bias (F,) are a trained first conv layer's parameters
    (e.g. `model.conv1.weight.detach().cpu().numpy()`). Returns the interactive_figure box.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    weight = np.asarray(weight, dtype=np.float32)
    bias = None if bias is None else np.asarray(bias, dtype=np.float32)

    def draw(fig, index):
        label = "" if labels is None else f"(label {labels[index]})"
        draw_feature_maps(fig, weight, bias, images[index], label)

    controls = {"index": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")}
    columns = min(8, weight.shape[0])
    rows = -(-weight.shape[0] // columns)
    return interactive_figure(draw, controls, figsize=(min(1.0 * columns + 1.6, 8.6), 2.2 * rows + 0.7))
