"""Offline "lite" data for plant-pathology-2020: small synthetic photos of apple leaves.

Every image is a 64x64 RGB JPEG of one leaf (a rotated, tapered ellipse with a midrib and
shading) in front of an orchard background, photographed under varying light. The label says
what is on the leaf:

* healthy: a clean green leaf (some with harmless yellowish blotches, dark specks of dirt or
  glare);
* rust: small round orange-yellow spots with a paler halo;
* scab: a few larger, irregular olive-brown to black patches with soft edges;
* multiple_diseases: both kinds of lesion on one leaf, usually fewer of each.

Things that make it hard: the disease may be mild (one or two faint spots), the background
often holds brown soil and dead leaves whose colours resemble lesions, and the exposure and
white balance change from photo to photo, which moves every pixel's colour. Global colour
histograms therefore see much of the signal but confuse background with lesions; features
that look at local contrast on the leaf itself (spots that differ from their surroundings)
separate the classes much better. A few labels are wrong, as in any hand-labelled set.
"""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pandas as pd
from PIL import Image

CLASSES = ("healthy", "multiple_diseases", "rust", "scab")
PRIORS = np.array([0.283, 0.050, 0.342, 0.325])  # as in the Kaggle training set
N_TRAIN = 800
N_TEST = 400
SIZE = 64
JPEG_QUALITY = 90
LABEL_NOISE = 0.03

MILD_RATE = 0.25  # diseased leaves with only one or two faint lesions
CONFUSER_RATE = 0.35  # healthy leaves with blotches, specks or glare
BROWN_BACKGROUND = 0.5  # photos with soil or dead leaves behind the leaf
LEAF_LENGTH = (28.0, 36.0)  # half length in pixels (the image is 64 wide)
DEBRIS = 2.0  # mean number of brown debris spots on such a background
EXPOSURE = 0.15  # exposure factor drawn from 1 +- EXPOSURE
WHITE_BALANCE = 0.05  # per-channel gain drawn from 1 +- WHITE_BALANCE
RUST_COUNT = (5, 20)  # spots on a (not mild) rust leaf
RUST_RADIUS = (1.2, 2.5)
SCAB_COUNT = (2, 5)  # patches on a (not mild) scab leaf
SCAB_RADIUS = (2.5, 4.5)  # of each disc in a patch

_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)


def _field(rng: np.random.Generator, terms: int, freq: float) -> np.ndarray:
    """A smooth random field in [-1, 1]: a sum of a few plane waves."""
    out = np.zeros((SIZE, SIZE), np.float32)
    axis = np.arange(SIZE, dtype=np.float32)
    for _ in range(terms):
        fx, fy = rng.normal(0, freq, 2)
        a = fx * axis + rng.uniform(0, 2 * np.pi)
        b = fy * axis
        # cos(a + b) = cos a cos b - sin a sin b, as outer products (rows: y, columns: x)
        out += np.outer(np.cos(b), np.cos(a)) - np.outer(np.sin(b), np.sin(a))
    return out / terms


def _window(cx: float, cy: float, reach: float) -> tuple[slice, slice]:
    """Rows and columns of the image within ``reach`` pixels of (cx, cy)."""
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, SIZE)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, SIZE)
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))


def _disc(win: tuple[slice, slice], cx: float, cy: float, radius: float,
          softness: float = 0.8) -> np.ndarray:
    """Soft-edged disc over the window: 1 inside, 0 outside, a ramp of ``softness`` pixels."""
    d = np.sqrt((_XX[win] - cx) ** 2 + (_YY[win] - cy) ** 2)
    return np.clip((radius - d) / softness + 0.5, 0, 1)


def _paint(img: np.ndarray, mask: np.ndarray, colour: np.ndarray,
           win: tuple[slice, slice] = (slice(None), slice(None))) -> None:
    """Blend ``colour`` into ``img[win]`` where ``mask`` (0..1) is set."""
    img[win] += mask[..., None] * (colour - img[win])


def _spot(img: np.ndarray, cx: float, cy: float, radius: float, softness: float,
          strength: float, colour: np.ndarray) -> None:
    """Paint one soft disc, touching only the pixels near it."""
    win = _window(cx, cy, radius + softness)
    _paint(img, _disc(win, cx, cy, radius, softness) * strength, colour, win)


class _Leaf:
    """Geometry of one leaf: a tapered ellipse, rotated, placed near the centre."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.cx, self.cy = SIZE / 2 + rng.normal(0, 3, 2)
        self.a = rng.uniform(*LEAF_LENGTH)  # half length
        self.b = self.a * rng.uniform(0.58, 0.75)  # half width
        self.angle = rng.uniform(0, np.pi)
        c, s = np.cos(self.angle), np.sin(self.angle)
        self.u = (_XX - self.cx) * c + (_YY - self.cy) * s  # along the midrib
        self.v = -(_XX - self.cx) * s + (_YY - self.cy) * c
        width = self.b * (1 - 0.35 * self.u / self.a)  # narrower towards the tip
        rho = np.sqrt((self.u / self.a) ** 2 + (self.v / np.maximum(width, 1)) ** 2)
        self.mask = np.clip((1 - rho) * 10, 0, 1)

    def point(self, rng: np.random.Generator, margin: float = 0.8) -> tuple[float, float]:
        """A random point well inside the leaf."""
        while True:
            u, v = rng.uniform(-margin, margin, 2)
            if u * u + v * v < margin * margin:
                break
        width = self.b * (1 - 0.35 * u)
        c, s = np.cos(self.angle), np.sin(self.angle)
        du, dv = u * self.a, v * width
        return self.cx + du * c - dv * s, self.cy + du * s + dv * c


def _rust(rng: np.random.Generator, img: np.ndarray, leaf: _Leaf, count: int,
          faint: bool) -> None:
    for _ in range(count):
        x, y = leaf.point(rng)
        r = rng.uniform(*RUST_RADIUS) * (0.8 if faint else 1.0)
        strength = rng.uniform(0.35, 0.6) if faint else rng.uniform(0.75, 1.0)
        halo = np.array([190, 185, 70]) + rng.normal(0, 12, 3)
        core = np.array([215, 120, 35]) + rng.normal(0, 15, 3)
        _spot(img, x, y, r + 1.3, 1.2, strength * 0.6, halo)
        _spot(img, x, y, r, 0.8, strength, core)


def _scab(rng: np.random.Generator, img: np.ndarray, leaf: _Leaf, count: int,
          faint: bool) -> None:
    for _ in range(count):
        x, y = leaf.point(rng, 0.7)
        strength = rng.uniform(0.35, 0.6) if faint else rng.uniform(0.7, 0.95)
        colour = np.array([62, 58, 32]) * rng.uniform(0.5, 1.2) + rng.normal(0, 6, 3)
        win = _window(x, y, 12)
        blob = np.zeros(_XX[win].shape, np.float32)
        for _ in range(int(rng.integers(2, 5))):  # irregular: a few overlapping discs
            r = rng.uniform(*SCAB_RADIUS) * (0.8 if faint else 1.0)
            dx, dy = np.clip(rng.normal(0, 2, 2), -5, 5)
            blob = np.maximum(blob, _disc(win, x + dx, y + dy, r, 1.6))
        _paint(img, blob * strength, colour, win)


def _image(rng: np.random.Generator, label: str) -> bytes:
    # Background: foliage, sky-grey or soil, with smooth variation and some brown debris.
    kind = rng.random()
    if kind < BROWN_BACKGROUND:
        base = np.array([105, 80, 50]) + rng.normal(0, 15, 3)
    elif kind < 0.8:
        base = np.array([60, 95, 45]) + rng.normal(0, 15, 3)
    else:
        base = np.array([150, 150, 145]) + rng.normal(0, 20, 3)
    img = np.empty((SIZE, SIZE, 3), np.float32)
    img[:] = base
    img += (_field(rng, 3, 0.12) * 30)[..., None]
    for _ in range(int(rng.poisson(DEBRIS if kind < BROWN_BACKGROUND else DEBRIS / 3))):
        x, y = rng.uniform(0, SIZE, 2)
        debris = np.array([150, 95, 45]) * rng.uniform(0.5, 1.3) + rng.normal(0, 10, 3)
        _spot(img, x, y, rng.uniform(1.5, 5), 1.5, rng.uniform(0.5, 1), debris)

    # The leaf: green with shading, a paler midrib and a darker edge.
    leaf = _Leaf(rng)
    green = np.array([75, 135, 45]) + rng.normal(0, 10, 3)
    shade = 1 + 0.15 * _field(rng, 2, 0.08)
    leaf_img = green * shade[..., None]
    midrib = np.exp(-(leaf.v**2) / 0.8) * (np.abs(leaf.u) < leaf.a * 0.9)
    _paint(leaf_img, midrib * 0.5, green * 1.35)
    _paint(img, leaf.mask, leaf_img)

    # Lesions (or, on some healthy leaves, look-alikes).
    mild = rng.random() < MILD_RATE
    if label in ("rust", "multiple_diseases"):
        n = int(rng.integers(1, 3)) if mild else int(rng.integers(*RUST_COUNT))
        _rust(rng, img, leaf, max(1, n // 2) if label == "multiple_diseases" else n, mild)
    if label in ("scab", "multiple_diseases"):
        n = 1 if mild else int(rng.integers(*SCAB_COUNT))
        _scab(rng, img, leaf, max(1, n - 1) if label == "multiple_diseases" else n, mild)
    if rng.random() < CONFUSER_RATE:
        what = rng.integers(3)
        x, y = leaf.point(rng)
        if what == 0:  # a large diffuse yellowish blotch, not a spot
            _spot(img, x, y, rng.uniform(5, 9), 4, 0.45, np.array([165, 165, 60]))
        elif what == 1:  # a dark speck of dirt, smaller than a scab patch
            _spot(img, x, y, rng.uniform(0.7, 1.2), 0.8, 0.7, np.array([50, 45, 30]))
        else:  # glare
            _spot(img, x, y, rng.uniform(2, 4), 2, 0.6, np.array([235, 240, 230]))

    # Exposure and white balance, then sensor noise.
    img *= rng.uniform(1 - EXPOSURE, 1 + EXPOSURE) * rng.uniform(
        1 - WHITE_BALANCE, 1 + WHITE_BALANCE, 3)
    img += rng.normal(0, 4, img.shape)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write public/{train,test,sample_submission}.csv, public/images/, private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    labels = rng.choice(len(CLASSES), size=n, p=PRIORS)
    public = out_dir / "public"
    (public / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)

    ids = [f"Train_{i}" for i in range(N_TRAIN)] + [f"Test_{i}" for i in range(N_TEST)]
    for image_id, label in zip(ids, labels, strict=True):
        (public / "images" / f"{image_id}.jpg").write_bytes(_image(rng, CLASSES[label]))

    flip = rng.random(n) < LABEL_NOISE
    labels = np.where(flip, rng.choice(len(CLASSES), size=n, p=PRIORS), labels)
    onehot = pd.DataFrame((labels[:, None] == np.arange(len(CLASSES))).astype(int),
                          columns=list(CLASSES))
    onehot.insert(0, "image_id", ids)

    train = onehot.iloc[:N_TRAIN].reset_index(drop=True)
    answers = onehot.iloc[N_TRAIN:].reset_index(drop=True)
    sample = answers[["image_id"]].copy()
    sample[list(CLASSES)] = 0.25
    train.to_csv(public / "train.csv", index=False)
    answers[["image_id"]].to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers.to_csv(out_dir / "private" / "answers.csv", index=False)
