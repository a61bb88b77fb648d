"""A convolution explorer on a real photo, and the filters and feature maps of a trained CNN.

Notebook 06_cnn. The pure functions compute what is drawn and are tested without a browser:

- `parse_kernel(text)`: a kernel typed as rows separated by ";" (e.g. "1 0 -1; 2 0 -2; 1 0 -1");
- `apply_kernel(image, kernel, stride, padding)`: one 2-D cross-correlation of a gray image
  with one kernel (zero padding), computed by `torch.nn.functional.conv2d`; returns the
  output array and its shape;
- `feature_maps(weight, bias, image)`: every first-layer feature map of a CNN for one image.

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

PRESET_KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32),
    "box blur": np.full((3, 3), 1.0 / 9.0, dtype=np.float32),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32),
    "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32),
    "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32),
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32),
}
CUSTOM = "custom (typed below)"


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


def _show_signed(ax, array: np.ndarray, title: str) -> None:
    """Gray for nonnegative arrays; a red-blue map centred on 0 when there are negative values."""
    if array.min() < 0:  # clip the colour scale at the 98th percentile: a few strong edges would wash out the rest
        limit = float(np.percentile(np.abs(array), 98)) or float(np.abs(array).max()) or 1.0
        ax.imshow(array, cmap="RdBu_r", vmin=-limit, vmax=limit)
    else:
        ax.imshow(array, cmap="gray", vmin=0.0, vmax=max(float(array.max()), 1e-8))
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_convolution(fig, image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 1,
                     kernel_name: str = "") -> None:
    """Input photo, the kernel with its numbers, and the output with its shape, side by side."""
    output, shape = apply_kernel(image, kernel, stride, padding)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [4, 1.6, 4]})
    _show_signed(axes[0], image, f"input {image.shape[0]} x {image.shape[1]}")
    limit = float(np.abs(kernel).max()) or 1.0
    axes[1].imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for (i, j), value in np.ndenumerate(kernel):
        axes[1].text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=8,
                     color="white" if abs(value) > 0.6 * limit else "black")
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    axes[1].set_title(f"kernel {kernel_name}".strip(), fontsize=9)
    _show_signed(axes[2], output, f"output {shape[0]} x {shape[1]} (stride {stride}, padding {padding})\n"
                                  f"values in [{output.min():.2f}, {output.max():.2f}]")
    fig.suptitle("output = kernel slid over the zero-padded input (cross-correlation)", fontsize=10)
    fig.subplots_adjust(top=0.8, bottom=0.03, left=0.03, right=0.97, wspace=0.15)


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
    return interactive_figure(draw, controls, figsize=(10, 4.2))


def draw_feature_maps(fig, weight: np.ndarray, bias: np.ndarray | None, image: np.ndarray, label: str = "",
                      columns: int = 8) -> None:
    """The input image on the left; for each first-layer filter, the filter and below it its feature map.

    Filters are laid out `columns` to a row (each row of filters followed by a row of their maps).
    Each feature map is shown after the ReLU on its own gray scale, with its maximum in the title.
    """
    maps = np.maximum(feature_maps(weight, bias, image), 0.0)  # after the ReLU, as the network sees them
    num_filters = weight.shape[0]
    columns = min(columns, num_filters)
    blocks = -(-num_filters // columns)
    grid = fig.add_gridspec(2 * blocks, columns + 1, width_ratios=[1.6] + [1] * columns, hspace=0.45, wspace=0.1)
    picture = np.asarray(image)
    gray = picture if picture.ndim == 2 else picture.mean(axis=0)
    _show_signed(fig.add_subplot(grid[:, 0]), gray, f"input {label}".strip())
    for f in range(num_filters):
        row, col = divmod(f, columns)
        _show_signed(fig.add_subplot(grid[2 * row, col + 1]), weight[f].mean(axis=0), f"filter {f}")
        ax = fig.add_subplot(grid[2 * row + 1, col + 1])
        ax.imshow(maps[f], cmap="gray", vmin=0.0, vmax=max(float(maps[f].max()), 1e-8))
        ax.set_title(f"max {maps[f].max():.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("first-layer filters (red > 0 > blue; averaged over input channels) and, under each, "
                 "its feature map after the ReLU", fontsize=10)


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
    return interactive_figure(draw, controls, figsize=(1.3 * columns + 2.5, 2.6 * rows + 0.6))
