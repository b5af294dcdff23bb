"""Offline "lite" data for nomad2018: synthetic (Al_x Ga_y In_z)2 O3 crystals and two energies.

Each material is a cation composition on a grid of 1/N_cation steps, one of the six space
groups of the real data with a cell of 10 to 80 atoms, and a lattice (lengths and angles)
whose volume follows the composition (Vegard's law: In is the largest cation, Al the
smallest) times a space-group factor and a random strain. The geometry files hold the
Cartesian lattice vectors that those lengths and angles give and one `atom` line per atom,
with the element counts that the composition and the atom count imply.

The targets are loosely physical and nonlinear:

* formation energy: each space group has its own energy for each pure oxide (Al prefers
  the corundum phase 167, Ga the monoclinic 12, In the bixbyite 206), a mixing energy that
  is largest for Al with In (size mismatch) and scaled per space group, an elastic term in
  the square of the volume strain, and noise; clipped at 0;
* band gap: large for Al, small for In, with bowing (mixed oxides have a lower gap than
  the linear mix), space-group offsets, a lower gap for metastable phases and for
  expanded cells (the strain effect grows with the Al fraction), and noise; clipped at 0.

A linear model on the raw columns misses the bowing, the space-group interactions and the
strain, which needs the cell volume per atom (a product of the lattice lengths and an angle
term) compared with what the composition predicts.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

N_TRAIN = 1200
N_TEST = 300
ELEMENTS = ("Al", "Ga", "In")
TARGETS = ("formation_energy_ev_natom", "bandgap_energy_ev")
FEATURES = (
    "spacegroup", "number_of_total_atoms", "percent_atom_al", "percent_atom_ga",
    "percent_atom_in", "lattice_vector_1_ang", "lattice_vector_2_ang", "lattice_vector_3_ang",
    "lattice_angle_alpha_degree", "lattice_angle_beta_degree", "lattice_angle_gamma_degree",
)

# Space group -> (how common it is, volume factor, cells as (atoms, length ratios, angles)).
SPACEGROUPS: dict[int, tuple[float, float, list[tuple[int, tuple, tuple]]]] = {
    12: (0.14, 1.02, [(20, (2.10, 0.52, 1.00), (90.0, 103.7, 90.0)),
                      (40, (2.10, 1.05, 1.00), (90.0, 103.7, 90.0)),
                      (60, (2.10, 1.57, 1.00), (90.0, 103.7, 90.0)),
                      (80, (2.10, 1.05, 2.00), (90.0, 103.7, 90.0))]),
    33: (0.16, 1.00, [(40, (0.54, 0.94, 1.00), (90.0, 90.0, 90.0)),
                      (80, (1.09, 0.94, 1.00), (90.0, 90.0, 90.0))]),
    167: (0.14, 0.95, [(10, (1.00, 1.00, 1.00), (55.3, 55.3, 55.3)),
                       (30, (0.37, 0.37, 1.00), (90.0, 90.0, 120.0))]),
    194: (0.23, 1.05, [(10, (0.27, 0.27, 1.00), (90.0, 90.0, 120.0)),
                       (30, (0.52, 0.52, 1.00), (90.0, 90.0, 120.0)),
                       (80, (1.00, 1.00, 0.93), (90.0, 90.0, 120.0))]),
    206: (0.18, 1.00, [(40, (1.00, 1.00, 1.00), (109.47, 109.47, 109.47)),
                       (80, (1.00, 1.00, 1.00), (90.0, 90.0, 90.0))]),
    227: (0.15, 1.04, [(40, (1.00, 1.00, 1.00), (60.0, 60.0, 60.0)),
                       (80, (1.00, 1.00, 1.41), (90.0, 90.0, 90.0))]),
}
# Energy (eV/atom) of each pure oxide (Al, Ga, In) in each space group, above its ground state.
PHASE_ENERGY = {
    12: (0.07, 0.00, 0.11), 33: (0.10, 0.04, 0.09), 167: (0.00, 0.05, 0.13),
    194: (0.15, 0.12, 0.06), 206: (0.17, 0.07, 0.00), 227: (0.13, 0.11, 0.08),
}
MIXING_SCALE = {12: 1.0, 33: 0.9, 167: 1.35, 194: 0.8, 206: 0.7, 227: 1.1}
GAP_OFFSET = {12: 0.0, 33: 0.15, 167: 0.25, 194: -0.35, 206: 0.10, 227: -0.45}
VEGARD = np.array([7.9, 10.2, 12.9])  # volume per atom (A^3) of the pure oxides
STRAIN_SD = 0.035


def _composition(rng: np.random.Generator) -> np.ndarray:
    """A continuous cation mix: ternary, binary (one element absent) or nearly pure."""
    u = rng.random()
    if u < 0.55:
        return rng.dirichlet([1.0, 1.0, 1.0])
    x = np.zeros(3)
    pair = rng.choice(3, size=2, replace=False)
    t = rng.random() if u < 0.93 else rng.choice([0.0, 1.0])
    x[pair[0]], x[pair[1]] = t, 1.0 - t
    return x


def _round_counts(x: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integer cation counts summing to ``total`` (largest remainder, random tie-breaks)."""
    raw = x * total
    counts = np.floor(raw).astype(int)
    rest = raw - counts + rng.random(3) * 1e-6
    for k in np.argsort(-rest)[: total - counts.sum()]:
        counts[k] += 1
    return counts


def _cell_vectors(lengths: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Cartesian lattice vectors (rows) for lengths a, b, c and angles alpha, beta, gamma."""
    a, b, c = lengths
    al, be, ga = np.radians(angles_deg)
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    cz = np.sqrt(max(c * c - cx * cx - cy * cy, 1e-9))
    return np.array([[a, 0.0, 0.0], [b * np.cos(ga), b * np.sin(ga), 0.0], [cx, cy, cz]])


def _volume_factor(angles_deg: np.ndarray) -> float:
    ca, cb, cg = np.cos(np.radians(angles_deg))
    return float(np.sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg))


def _geometry_text(vectors: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> str:
    """An xyz file in the competition's layout: comments, lattice vectors, one line per atom."""
    n_cat = int(counts.sum())
    n_atoms = n_cat * 5 // 2
    # Atoms sit on a jittered grid of fractional positions, as many grid points as needed.
    lengths = np.linalg.norm(vectors, axis=1)
    grid = np.maximum(1, np.round(lengths / np.prod(lengths) ** (1 / 3) * n_atoms ** (1 / 3)))
    while np.prod(grid) < n_atoms:
        grid[np.argmin(grid / lengths)] += 1
    axes = [np.arange(int(g)) / g for g in grid]
    sites = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    frac = sites[rng.permutation(len(sites))[:n_atoms]]
    frac = (frac + rng.normal(0, 0.015, frac.shape)) % 1.0
    cart = frac @ vectors
    symbols = [e for e, k in zip(ELEMENTS, counts, strict=True) for _ in range(k)]
    symbols += ["O"] * (n_atoms - n_cat)
    lines = [
        "#" + "=" * 55,
        "#Created using the Atomic Simulation Environment (ASE)",
        "#" + "=" * 55,
    ]
    lines += [f"lattice_vector {v[0]:.16f} {v[1]:.16f} {v[2]:.16f} " for v in vectors]
    lines += [f"atom {p[0]:.16f} {p[1]:.16f} {p[2]:.16f} {s}" for p, s in zip(cart, symbols,
                                                                            strict=True)]
    return "\n".join(lines) + "\n"


def _material(rng: np.random.Generator) -> tuple[dict, str]:
    """One material: its table row (features and both targets) and its geometry file."""
    x_cont = _composition(rng)
    sgs = list(SPACEGROUPS)
    # Phases that are cheap for this composition are found more often, as in real databases.
    e_pure = np.array([np.dot(PHASE_ENERGY[s], x_cont) for s in sgs])
    weight = np.array([SPACEGROUPS[s][0] for s in sgs]) * (1 + 3 * np.exp(-e_pure / 0.04))
    sg = sgs[rng.choice(len(sgs), p=weight / weight.sum())]
    _, v_factor, cells = SPACEGROUPS[sg]
    n_atoms, ratios, angles = cells[rng.integers(len(cells))]
    n_cat = n_atoms * 2 // 5
    counts = _round_counts(x_cont, n_cat, rng)
    x = counts / n_cat
    x_al, x_ga, x_in = x

    strain = rng.normal(0, STRAIN_SD)
    v_atom = float(VEGARD @ x) * v_factor * np.exp(strain)
    ratios = np.array(ratios) * np.exp(rng.normal(0, 0.012, 3))
    angles = np.array(angles) + np.where(
        np.isin(angles, (90.0, 120.0)), rng.normal(0, 0.004, 3), rng.normal(0, 0.4, 3)
    )
    scale = (n_atoms * v_atom / (np.prod(ratios) * _volume_factor(angles))) ** (1 / 3)
    lengths = ratios * scale

    e_phase = float(np.dot(PHASE_ENERGY[sg], x))
    e_mix = MIXING_SCALE[sg] * (0.12 * x_al * x_ga + 0.95 * x_al * x_in + 0.35 * x_ga * x_in)
    e_form = e_phase + e_mix + 30.0 * strain**2 + 0.012 * (n_atoms <= 20)
    e_form = max(0.0, e_form + 0.03 + rng.normal(0, 0.015))

    gap = 5.3 * x_al + 2.3 * x_ga + 0.9 * x_in
    gap -= 1.1 * x_al * x_ga + 2.8 * x_al * x_in + 0.7 * x_ga * x_in
    gap += GAP_OFFSET[sg] - 2.0 * e_phase
    gap -= (2.0 + 6.0 * x_al) * strain
    gap = max(0.0, gap * np.exp(rng.normal(0, 0.04)) + rng.normal(0, 0.06))

    row = {
        "spacegroup": sg,
        "number_of_total_atoms": float(n_atoms),
        "percent_atom_al": round(x_al, 4),
        "percent_atom_ga": round(x_ga, 4),
        "percent_atom_in": round(x_in, 4),
        "lattice_vector_1_ang": round(lengths[0], 4),
        "lattice_vector_2_ang": round(lengths[1], 4),
        "lattice_vector_3_ang": round(lengths[2], 4),
        "lattice_angle_alpha_degree": round(angles[0], 4),
        "lattice_angle_beta_degree": round(angles[1], 4),
        "lattice_angle_gamma_degree": round(angles[2], 4),
        "formation_energy_ev_natom": round(e_form, 4),
        "bandgap_energy_ev": round(gap, 4),
    }
    return row, _geometry_text(_cell_vectors(lengths, angles), counts, rng)


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write public/{train.csv,test.csv,sample_submission.csv,train/,test/} and private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    rows, geometries = zip(*(_material(rng) for _ in range(N_TRAIN + N_TEST)), strict=True)
    table = pd.DataFrame(list(rows))
    # Ids count from 1 in train and again in test, as MLE-bench renumbers them.
    train = table.iloc[:N_TRAIN].reset_index(drop=True)
    test = table.iloc[N_TRAIN:].reset_index(drop=True)
    train.insert(0, "id", np.arange(1, N_TRAIN + 1))
    test.insert(0, "id", np.arange(1, N_TEST + 1))

    public, private = out_dir / "public", out_dir / "private"
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    train.to_csv(public / "train.csv", index=False)
    test[["id", *FEATURES]].to_csv(public / "test.csv", index=False)
    for split, frame, offset in (("train", train, 0), ("test", test, N_TRAIN)):
        for i, material_id in enumerate(frame["id"]):
            folder = public / split / str(material_id)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "geometry.xyz").write_text(geometries[offset + i])

    sample = pd.DataFrame({"id": test["id"]})
    for target in TARGETS:
        sample[target] = round(float(train[target].mean()), 4)
    sample.to_csv(public / "sample_submission.csv", index=False)
    test[["id", *TARGETS]].to_csv(private / "answers.csv", index=False)
