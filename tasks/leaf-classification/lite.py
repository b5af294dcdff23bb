"""Offline "lite" data for leaf-classification: synthetic leaves of the 99 real species.

Each species gets three prototypes, and each leaf is a noisy draw around its species' prototypes:

* margin1-64: a histogram of margin (edge) descriptors, stored as counts / 512, like the
  Kaggle features (multiples of a small fraction, summing to 1);
* shape1-64: the contour's centroid distance at 64 angles (a smooth curve), scaled so that the
  values are about 7e-4 as in the Kaggle file;
* texture1-64: a histogram of texture descriptors, counts / 1024, peakier than the margin one.

Species of one genus share a genus prototype and differ by smaller species offsets, so the
many Quercus or Acer species are hard to tell apart, as on the real data. On top of the
species signal, every leaf carries a few leaf-level nuisance factors (age, scan quality, how
the leaf lay on the scanner) that move all its features together along directions shared by
every species. This correlated noise is much larger than the species differences in some
directions: a model that estimates the pooled within-species covariance (LDA, whitening)
removes it; logistic regression on standardised features only partly learns to. The
histograms are drawn from a softmax of the logits, so the nuisance acts multiplicatively on
them and taking their logarithm first makes it (nearly) additive again.

images/<id>.jpg are binary silhouettes (white leaf on black, 64x64 greyscale) drawn from the
same contour, with serrated edges for the species whose prototype says so.
"""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

# The 99 species, ordered as in the Kaggle sample submission.
SPECIES = [
    "Acer_Capillipes", "Acer_Circinatum", "Acer_Mono", "Acer_Opalus", "Acer_Palmatum",
    "Acer_Pictum", "Acer_Platanoids", "Acer_Rubrum", "Acer_Rufinerve", "Acer_Saccharinum",
    "Alnus_Cordata", "Alnus_Maximowiczii", "Alnus_Rubra", "Alnus_Sieboldiana", "Alnus_Viridis",
    "Arundinaria_Simonii", "Betula_Austrosinensis", "Betula_Pendula", "Callicarpa_Bodinieri",
    "Castanea_Sativa", "Celtis_Koraiensis", "Cercis_Siliquastrum", "Cornus_Chinensis",
    "Cornus_Controversa", "Cornus_Macrophylla", "Cotinus_Coggygria", "Crataegus_Monogyna",
    "Cytisus_Battandieri", "Eucalyptus_Glaucescens", "Eucalyptus_Neglecta", "Eucalyptus_Urnigera",
    "Fagus_Sylvatica", "Ginkgo_Biloba", "Ilex_Aquifolium", "Ilex_Cornuta",
    "Liquidambar_Styraciflua", "Liriodendron_Tulipifera", "Lithocarpus_Cleistocarpus",
    "Lithocarpus_Edulis", "Magnolia_Heptapeta", "Magnolia_Salicifolia", "Morus_Nigra",
    "Olea_Europaea", "Phildelphus", "Populus_Adenopoda", "Populus_Grandidentata", "Populus_Nigra",
    "Prunus_Avium", "Prunus_X_Shmittii", "Pterocarya_Stenoptera", "Quercus_Afares",
    "Quercus_Agrifolia", "Quercus_Alnifolia", "Quercus_Brantii", "Quercus_Canariensis",
    "Quercus_Castaneifolia", "Quercus_Cerris", "Quercus_Chrysolepis", "Quercus_Coccifera",
    "Quercus_Coccinea", "Quercus_Crassifolia", "Quercus_Crassipes", "Quercus_Dolicholepis",
    "Quercus_Ellipsoidalis", "Quercus_Greggii", "Quercus_Hartwissiana", "Quercus_Ilex",
    "Quercus_Imbricaria", "Quercus_Infectoria_sub", "Quercus_Kewensis", "Quercus_Nigra",
    "Quercus_Palustris", "Quercus_Phellos", "Quercus_Phillyraeoides", "Quercus_Pontica",
    "Quercus_Pubescens", "Quercus_Pyrenaica", "Quercus_Rhysophylla", "Quercus_Rubra",
    "Quercus_Semecarpifolia", "Quercus_Shumardii", "Quercus_Suber", "Quercus_Texana",
    "Quercus_Trojana", "Quercus_Variabilis", "Quercus_Vulcanica", "Quercus_x_Hispanica",
    "Quercus_x_Turneri", "Rhododendron_x_Russellianum", "Salix_Fragilis", "Salix_Intergra",
    "Sorbus_Aria", "Tilia_Oliveri", "Tilia_Platyphyllos", "Tilia_Tomentosa", "Ulmus_Bergmanniana",
    "Viburnum_Tinus", "Viburnum_x_Rhytidophylloides", "Zelkova_Serrata",
]
PER_SPECIES = 10  # the Kaggle training set has exactly 10 leaves per species
TEST_FRACTION = 0.1  # MLE-bench keeps 10% of Kaggle's train as its test set
N_IDS = 1584  # Kaggle numbers train and test leaves together, 1..1584
N_FEAT = 64
MARGIN_COUNT = 512
TEXTURE_COUNT = 1024
N_FOURIER = 8  # contour harmonics
N_NUISANCE = 4  # leaf-level factors shared by all species
IMAGE_SIZE = 64

GENUS_SCALE = 0.9  # spread of genus prototypes (logits)
SPECIES_SCALE = 0.8  # spread of species around their genus (logits)
NUISANCE_SCALE = 1.4  # loading of each nuisance factor on the logits
LEAF_NOISE = 0.25  # independent per-leaf noise on the logits
SHAPE_SPECIES = 0.05  # spread of species contours around their genus
SHAPE_NOISE = 0.05  # independent per-leaf noise on the contour harmonics


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Circular moving average along the last axis, so that neighbouring bins are related."""
    kernel = np.ones(width) / width
    pad = np.concatenate([x[..., -width:], x, x[..., :width]], axis=-1)
    out = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), -1, pad)
    return out[..., width:-width]


def _histograms(rng: np.random.Generator, logits: np.ndarray, total: int) -> np.ndarray:
    """Multinomial counts from softmax(logits), as fractions of ``total``."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    counts = np.stack([rng.multinomial(total, row) for row in p])
    return counts / total


def _contours(coef: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Centroid distance r(theta) from Fourier coefficients (rows: leaves; cos, sin pairs)."""
    k = np.arange(1, N_FOURIER + 1)
    arg = np.outer(angles, k)  # (angles, harmonics)
    r = 1.0 + coef[:, 0::2] @ np.cos(arg).T + coef[:, 1::2] @ np.sin(arg).T
    return np.maximum(r, 0.15)


def _silhouette(r: np.ndarray, angles: np.ndarray) -> bytes:
    """A white leaf on black, drawn from its contour and encoded as a greyscale JPEG."""
    scale = 0.42 * IMAGE_SIZE / r.max()
    c = IMAGE_SIZE / 2
    # Draw at 4x and shrink, for smooth anti-aliased edges like a scanned silhouette.
    big = 4 * IMAGE_SIZE
    points = [(4 * (c + scale * ri * np.sin(a)), 4 * (c - scale * ri * np.cos(a)))
              for ri, a in zip(r, angles, strict=True)]
    img = Image.new("L", (big, big), 0)
    ImageDraw.Draw(img).polygon(points, fill=255)
    img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write public/{train,test,sample_submission}.csv, public/images/, private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    n_species = len(SPECIES)
    genera = sorted({s.split("_")[0] for s in SPECIES})
    genus_of = np.array([genera.index(s.split("_")[0]) for s in SPECIES])

    # Prototypes: genus logits plus smaller species offsets, smoothed along the bins.
    def prototypes(width: int, peak: float) -> np.ndarray:
        genus = _smooth(rng.normal(0, GENUS_SCALE * peak, (len(genera), N_FEAT)), width)
        species = _smooth(rng.normal(0, SPECIES_SCALE * peak, (n_species, N_FEAT)), width)
        return (genus[genus_of] + species) * np.sqrt(width)

    margin_proto = prototypes(3, 1.0)
    texture_proto = prototypes(2, 1.6)
    decay = 1.0 / np.repeat(np.arange(1, N_FOURIER + 1), 2)  # finer harmonics vary less
    genus_coef = rng.normal(0, 0.16, (len(genera), 2 * N_FOURIER)) * decay
    genus_coef[:, 2] += rng.uniform(0.15, 0.45, len(genera))  # cos(2 theta): elongated leaves
    species_coef = rng.normal(0, SHAPE_SPECIES, (n_species, 2 * N_FOURIER)) * decay
    shape_proto = genus_coef[genus_of] + species_coef
    serration = np.where(rng.random(len(genera)) < 0.45, rng.integers(18, 40, len(genera)), 0)
    # Shared nuisance directions (the same for every species).
    load_margin = _smooth(rng.normal(0, 1, (N_NUISANCE, N_FEAT)), 4) * 2 * NUISANCE_SCALE
    load_texture = _smooth(rng.normal(0, 1, (N_NUISANCE, N_FEAT)), 3) * 2 * NUISANCE_SCALE
    load_shape = rng.normal(0, 0.05, (N_NUISANCE, 2 * N_FOURIER)) * decay

    labels = np.repeat(np.arange(n_species), PER_SPECIES)
    n = len(labels)
    z = rng.normal(0, 1, (n, N_NUISANCE))
    margin = _histograms(rng, margin_proto[labels] + z @ load_margin
                         + rng.normal(0, LEAF_NOISE, (n, N_FEAT)), MARGIN_COUNT)
    texture = _histograms(rng, texture_proto[labels] + z @ load_texture
                          + rng.normal(0, LEAF_NOISE * 1.5, (n, N_FEAT)), TEXTURE_COUNT)
    coef = (shape_proto[labels] + z @ load_shape
            + rng.normal(0, SHAPE_NOISE, (n, 2 * N_FOURIER)) * decay)
    feature_angles = np.arange(N_FEAT) * 2 * np.pi / N_FEAT
    r = _contours(coef, feature_angles)
    shape = r / r.sum(axis=1, keepdims=True) * 0.045 + rng.normal(0, 1.5e-5, r.shape)

    ids = np.sort(rng.choice(np.arange(1, N_IDS + 1), size=n, replace=False))
    order = rng.permutation(n)  # leaves listed by id, species in random order
    labels, margin, shape, texture, coef = (a[order] for a in (labels, margin, shape, texture,
                                                                 coef))

    frame = pd.DataFrame({"id": ids, "species": np.array(SPECIES)[labels]})
    for name, block in (("margin", margin), ("shape", shape), ("texture", texture)):
        cols = {f"{name}{j + 1}": np.round(block[:, j], 6) for j in range(N_FEAT)}
        frame = pd.concat([frame, pd.DataFrame(cols)], axis=1)

    n_test = int(round(n * TEST_FRACTION))
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.choice(n, size=n_test, replace=False)] = True
    train = frame[~is_test].reset_index(drop=True)
    test = frame[is_test].drop(columns="species").reset_index(drop=True)
    answers = pd.DataFrame(0, index=range(n_test), columns=["id", *SPECIES])
    answers["id"] = test["id"]
    for i, s in enumerate(frame.loc[is_test, "species"]):
        answers.loc[i, s] = 1
    sample = pd.DataFrame({"id": test["id"]})
    sample[SPECIES] = 1.0 / n_species

    public = out_dir / "public"
    (public / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    image_angles = np.arange(256) * 2 * np.pi / 256
    r_img = _contours(coef, image_angles)
    for i in range(n):
        teeth = serration[genus_of[labels[i]]]
        edge = r_img[i] * (1 + (0.05 * np.abs(np.sin(teeth * image_angles / 2)) if teeth else 0))
        (public / "images" / f"{ids[i]}.jpg").write_bytes(_silhouette(edge, image_angles))
    train.to_csv(public / "train.csv", index=False)
    test.to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers.to_csv(out_dir / "private" / "answers.csv", index=False)
