"""3-D primitives as point clouds, voxel grids and depth images, generated offline.

Six solid primitives, each fitting in the unit ball and sitting roughly at the origin:
sphere, cube, cylinder, cone, torus, pyramid (square base). For each:

- `sample_surface(shape, num_points, rng)`: points drawn uniformly (by area) from its surface;
- `inside(shape, points)`: whether points lie in the solid (its occupancy);
- `make_point_clouds` / `make_voxel_grids`: labelled data sets of randomly scaled, stretched and
  rotated primitives, as surface point clouds or as solid occupancy grids;
- `rotation_matrix(azimuth, elevation)`, `random_rotations(n, rng, kind)`, `voxel_centres`;
- `render_spheres`: a pinhole camera's shaded image and depth map of a scene of spheres.

Conventions: points are (..., 3) arrays of (x, y, z), z is "up" for the primitives; voxel
grids are indexed grid[i, j, k] with i along x, j along y, k along z, voxel (i, j, k) covering
[low + i s, low + (i + 1) s) in x (s = (high - low) / R), and likewise in y and z.
"""

from __future__ import annotations

import numpy as np

SHAPE_NAMES = ("sphere", "cube", "cylinder", "cone", "torus", "pyramid")

_CUBE = 1 / np.sqrt(3)                    # half side: the corners touch the unit sphere
_CYLINDER = (0.6, 0.8)                    # radius, half height
_CONE = (0.8, -0.6, 0.8)                  # base radius, base z, apex z
_TORUS = (0.7, 0.3)                       # major radius (centre of the tube), minor radius (tube)
_PYRAMID = (0.6, -0.5, 0.8)               # base half side, base z, apex z


def _check_shape(shape: str) -> None:
    if shape not in SHAPE_NAMES:
        raise ValueError(f"shape must be one of {SHAPE_NAMES}, got {shape!r}")


def _circle(radius: np.ndarray, angle: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.stack([radius * np.cos(angle), radius * np.sin(angle), z], axis=-1)


def _in_triangle(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Uniform points in triangles (a[n], b[n], c[n]), each (n, 3)."""
    u, v = rng.random((2, len(a), 1))
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    return a + u * (b - a) + v * (c - a)


def _pick(rng: np.random.Generator, areas: list[float], num_points: int) -> np.ndarray:
    """Which part of a surface each point goes on, with probability proportional to the part's area."""
    return rng.choice(len(areas), size=num_points, p=np.asarray(areas) / np.sum(areas))


def sample_surface(shape: str, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """(num_points, 3) float64 points drawn uniformly by area from the surface of the primitive `shape`."""
    _check_shape(shape)
    angle = rng.uniform(0, 2 * np.pi, num_points)
    if shape == "sphere":
        points = rng.normal(size=(num_points, 3))
        return points / np.linalg.norm(points, axis=1, keepdims=True)
    if shape == "cube":
        points = rng.uniform(-_CUBE, _CUBE, size=(num_points, 3))
        axis, side = rng.integers(0, 3, num_points), rng.choice([-_CUBE, _CUBE], num_points)
        points[np.arange(num_points), axis] = side
        return points
    if shape == "cylinder":
        a, h = _CYLINDER
        part = _pick(rng, [4 * np.pi * a * h, np.pi * a * a, np.pi * a * a], num_points)
        radius = np.where(part == 0, a, a * np.sqrt(rng.random(num_points)))
        z = np.select([part == 0, part == 1], [rng.uniform(-h, h, num_points), np.full(num_points, h)], -h)
        return _circle(radius, angle, z)
    if shape == "cone":
        a, base, apex = _CONE
        height = apex - base
        part = _pick(rng, [np.pi * a * np.hypot(a, height), np.pi * a * a], num_points)
        t = np.sqrt(rng.random(num_points))          # lateral: density grows with the distance from the apex
        radius = a * t
        z = np.where(part == 0, apex - height * t, base)
        return _circle(radius, angle, z)
    if shape == "torus":
        major, minor = _TORUS
        tube = np.empty(0)
        while tube.size < num_points:                # the outer side of the tube has more area
            phi = rng.uniform(0, 2 * np.pi, 2 * num_points)
            keep = rng.random(phi.size) < (major + minor * np.cos(phi)) / (major + minor)
            tube = np.concatenate([tube, phi[keep]])
        tube = tube[:num_points]
        return _circle(major + minor * np.cos(tube), angle, minor * np.sin(tube))
    b, base, apex = _PYRAMID                         # pyramid: a square base and four triangles
    side = (2 * b) * np.hypot(b, apex - base) / 2
    part = _pick(rng, [4 * b * b, side, side, side, side], num_points)
    corners = np.array([[b, b, base], [-b, b, base], [-b, -b, base], [b, -b, base]])
    face = np.clip(part - 1, 0, 3)
    points = _in_triangle(rng, np.tile([0.0, 0.0, apex], (num_points, 1)), corners[face], corners[(face + 1) % 4])
    on_base = part == 0
    points[on_base] = np.column_stack([rng.uniform(-b, b, (on_base.sum(), 2)), np.full(on_base.sum(), base)])
    return points


def inside(shape: str, points: np.ndarray) -> np.ndarray:
    """Occupancy of the solid primitive `shape`: points (..., 3) -> bool (...), True inside or on the surface."""
    _check_shape(shape)
    x, y, z = np.moveaxis(np.asarray(points, dtype=np.float64), -1, 0)
    rho = np.hypot(x, y)
    if shape == "sphere":
        return x * x + y * y + z * z <= 1.0
    if shape == "cube":
        return np.maximum(np.maximum(np.abs(x), np.abs(y)), np.abs(z)) <= _CUBE
    if shape == "cylinder":
        a, h = _CYLINDER
        return (rho <= a) & (np.abs(z) <= h)
    if shape == "cone":
        a, base, apex = _CONE
        return (z >= base) & (z <= apex) & (rho <= a * (apex - z) / (apex - base))
    if shape == "torus":
        major, minor = _TORUS
        return (rho - major) ** 2 + z * z <= minor * minor
    b, base, apex = _PYRAMID
    return (z >= base) & (z <= apex) & (np.maximum(np.abs(x), np.abs(y)) <= b * (apex - z) / (apex - base))


def rotation_matrix(azimuth: float, elevation: float) -> np.ndarray:
    """(3, 3) float64 rotation: first by `azimuth` degrees about the z axis, then by `elevation` degrees
    about the x axis (R = R_x(elevation) @ R_z(azimuth)). Rotate points (N, 3) with points @ R.T."""
    a, e = np.radians(azimuth), np.radians(elevation)
    spin = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(e), -np.sin(e)], [0.0, np.sin(e), np.cos(e)]])
    return tilt @ spin


def random_rotations(n: int, rng: np.random.Generator, kind: str = "z") -> np.ndarray:
    """(n, 3, 3) float64 random rotations. kind: "z" (a uniform angle about the vertical z axis),
    "any" (uniform over all 3-D rotations) or "none" (identities)."""
    if kind == "none":
        return np.tile(np.eye(3), (n, 1, 1))
    if kind == "z":
        return np.stack([rotation_matrix(angle, 0.0) for angle in rng.uniform(0, 360, n)])
    if kind != "any":
        raise ValueError(f"kind must be 'z', 'any' or 'none', got {kind!r}")
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]   # uniform (Haar) orthogonal matrices
    q[np.linalg.det(q) < 0, :, 0] *= -1                            # reflections -> rotations
    return q


def _random_transforms(n: int, rng: np.random.Generator, rotation: str, scale: tuple[float, float],
                       stretch: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotations (n, 3, 3) and per-axis scales (n, 3), largest <= scale[1]: the shapes stay in the unit ball."""
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must be a range (low, high) with 0 < low <= high <= 1, got {scale}")
    axes = 1 + rng.uniform(-stretch, stretch, (n, 3))
    scales = rng.uniform(*scale, (n, 1)) * axes / axes.max(axis=1, keepdims=True)
    return random_rotations(n, rng, rotation), scales


def _labels(num_per_class: int, shapes: tuple[str, ...]) -> np.ndarray:
    for shape in shapes:
        _check_shape(shape)
    return np.repeat(np.arange(len(shapes)), num_per_class)


def make_point_clouds(num_per_class: int = 100, num_points: int = 128, shapes: tuple[str, ...] = SHAPE_NAMES,
                      rotation: str = "z", scale: tuple[float, float] = (0.6, 1.0), stretch: float = 0.15,
                      noise: float = 0.01, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Surface point clouds of randomly transformed primitives, deterministic per seed.

    Each cloud is a primitive stretched by 1 +- `stretch` per axis, scaled so that its largest
    factor is uniform in `scale`, rotated (`rotation` as in `random_rotations`), with N(0, noise^2)
    noise on every coordinate; the points are in random order. The examples are shuffled.
    Returns points (num_per_class * len(shapes), num_points, 3) float32 and labels (same length,)
    int64, the index of the shape in `shapes`.
    """
    rng = np.random.default_rng(seed)
    labels = _labels(num_per_class, shapes)
    rotations, scales = _random_transforms(labels.size, rng, rotation, scale, stretch)
    clouds = np.stack([sample_surface(shapes[label], num_points, rng) for label in labels])
    clouds = np.einsum("nij,npj->npi", rotations, clouds * scales[:, None, :])
    clouds += rng.normal(0.0, noise, clouds.shape)
    order = rng.permutation(labels.size)
    return clouds[order].astype(np.float32), labels[order].astype(np.int64)


def voxel_centres(resolution: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """(R, R, R, 3) float64: the centre (x, y, z) of voxel [i, j, k] of an R^3 grid over [low, high]^3."""
    side = (high - low) / resolution
    axis = low + (np.arange(resolution) + 0.5) * side
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)


def make_voxel_grids(num_per_class: int = 100, resolution: int = 16, shapes: tuple[str, ...] = SHAPE_NAMES,
                     rotation: str = "z", scale: tuple[float, float] = (0.6, 1.0), stretch: float = 0.15,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Solid occupancy grids of randomly transformed primitives over [-1, 1]^3, deterministic per seed.

    The transforms are those of `make_point_clouds` (same arguments); a voxel is occupied when its
    centre is inside the transformed solid. Returns grids (num_per_class * len(shapes), R, R, R) bool,
    indexed [n, i, j, k] with i along x, and labels int64; the examples are shuffled.
    """
    rng = np.random.default_rng(seed)
    labels = _labels(num_per_class, shapes)
    rotations, scales = _random_transforms(labels.size, rng, rotation, scale, stretch)
    centres = voxel_centres(resolution).reshape(-1, 3)
    local = np.einsum("nji,pj->npi", rotations, centres) / scales[:, None, :]   # undo the rotation, then the scale
    grids = np.stack([inside(shapes[label], points) for label, points in zip(labels, local)])
    order = rng.permutation(labels.size)
    return grids.reshape(-1, resolution, resolution, resolution)[order], labels[order].astype(np.int64)


def render_spheres(centres: np.ndarray, radii: np.ndarray, image_size: int = 64, fov: float = 60.0,
                   wall: float | None = None, light: tuple[float, float, float] = (-0.5, 0.6, -1.0)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A pinhole camera's view of spheres (and an optional wall facing the camera).

    The camera sits at the origin and looks along +z; x is to the right, y up; `fov` is the
    field of view in degrees across the image's width. centres: (K, 3) sphere centres (z > radius),
    radii: (K,); wall: the distance of a plane z = wall behind them, or None. Shading is Lambertian,
    from a light in direction `light` (towards the light), plus 0.1 ambient.
    Returns image (S, S) float32 in [0, 1] and depth (S, S) float32: the z coordinate of the
    visible surface (depth along the optical axis), 0 where the ray hits nothing.
    Scaling the whole scene (centres, radii and wall) by c changes the depth by c and the image not at all.
    """
    centres, radii = np.asarray(centres, dtype=np.float64).reshape(-1, 3), np.asarray(radii, dtype=np.float64)
    tan = np.tan(np.radians(fov) / 2)
    coords = (np.arange(image_size) + 0.5) / image_size * 2 - 1
    x, y = np.meshgrid(coords * tan, -coords * tan)                           # row 0 is the top of the image
    rays = np.stack([x, y, np.ones_like(x)], axis=-1)                         # (S, S, 3), z component 1
    depth = np.full(x.shape, np.inf)
    normal = np.zeros(rays.shape)
    if wall is not None:
        depth[:] = wall
        normal[:] = (0.0, 0.0, -1.0)
    for centre, radius in zip(centres, radii):                                # depth = lambda, as rays[..., 2] = 1
        along = rays @ centre
        squared = (rays * rays).sum(-1)
        discriminant = along ** 2 - squared * (centre @ centre - radius ** 2)
        with np.errstate(invalid="ignore"):
            hit = (along - np.sqrt(discriminant)) / squared
        nearer = (discriminant >= 0) & (hit > 0) & (hit < depth)
        depth[nearer] = hit[nearer]
        normal[nearer] = (hit[nearer, None] * rays[nearer] - centre) / radius
    towards_light = np.asarray(light, dtype=np.float64) / np.linalg.norm(light)
    seen = np.isfinite(depth)
    image = np.where(seen, 0.1 + 0.9 * np.clip(normal @ towards_light, 0, 1), 0.0)
    return image.astype(np.float32), np.where(seen, depth, 0.0).astype(np.float32)
