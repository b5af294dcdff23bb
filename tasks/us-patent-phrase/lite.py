"""Offline "lite" data for us-patent-phrase: technical noun phrases scored for similarity.

Every phrase is built from word pools, one pool per CPC domain (A47 furniture, B60 vehicles,
H01 electric elements, ...). A pool holds head-noun concepts and modifier concepts; each concept
has several surface forms (synonyms, many of them with no letters in common, such as
"automobile" and "car"), head concepts come in families of related things, and a shared set of
positional modifiers comes in opposite pairs that look alike ("inner" and "outer", "inlet" and
"outlet").

Each anchor belongs to one domain and is shown with one or two contexts (CPC codes). A few head
words mean different things in different domains ("cell" is a battery cell under H01, a tissue
cell under A61 and a radio coverage area under H04); such anchors are read in the sense of the
row's context, and some of their targets use another sense's synonyms.

The hidden score depends on meaning, not letters: the same head concept counts (fully when the
same word, less for a synonym), related heads count a little, heads from another domain count
nothing, and modifiers add agreement or, when opposite, take it away. A per-context offset (some
examiners are stricter) and rating noise follow, and the result is rounded to the quarter steps
0, 0.25, 0.5, 0.75, 1. So letter overlap gets a moderate correlation; learning which words go
together (and under which context) from the training pairs gets much more.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

N_TRAIN = 3000
N_TEST = 1000
NOISE_SD = 0.07  # rating noise on the latent score, before rounding to quarters
SHIFT_RATE = 0.08  # ratings moved one step up or down (raters disagree)

# Per domain: the CPC code, head concepts as (family, forms...) and modifier concepts.
DOMAINS: dict[str, dict[str, list[tuple[str, ...]]]] = {
    "A47": {
        "heads": [
            ("sit", "chair", "seat", "stool"), ("sit", "sofa", "couch", "settee"),
            ("surface", "table", "desk", "worktop"), ("store", "shelf", "rack", "shelving unit"),
            ("store", "drawer", "sliding tray"), ("store", "cabinet", "cupboard", "wardrobe"),
            ("soft", "cushion", "pad", "padding"), ("soft", "mattress", "bed base"),
            ("kitchen", "plate", "dish", "serving plate"),
            ("kitchen", "cooking pot", "saucepan", "cookware"),
        ],
        "mods": [
            ("folding", "foldable", "collapsible"), ("upholstered", "padded", "cushioned"),
            ("wooden", "timber", "wood"), ("adjustable", "height adjustable", "variable height"),
            ("stackable", "nestable"), ("kitchen", "domestic", "household"),
        ],
    },
    "B60": {
        "heads": [
            ("vehicle", "vehicle", "automobile", "motor vehicle", "car"),
            ("vehicle", "bus", "coach", "passenger bus"),
            ("running", "wheel", "road wheel", "wheel rim"), ("running", "axle", "wheel axle"),
            ("control", "brake", "braking device", "brake unit"),
            ("control", "steering wheel", "steering handle"),
            ("body", "bumper", "fender", "impact beam"), ("body", "headlamp", "headlight"),
            ("body", "windshield", "windscreen"),
            ("safety", "seat belt", "safety belt", "restraint belt"),
            ("safety", "airbag", "air cushion", "inflatable restraint"),
        ],
        "mods": [
            ("electric", "electrically driven", "battery powered"), ("hybrid", "dual drive"),
            ("autonomous", "self driving", "driverless"), ("heavy duty", "heavy"),
            ("passenger", "occupant"),
        ],
    },
    "H01": {
        "heads": [
            ("storage", "battery", "accumulator", "storage battery"),
            ("storage", "cell", "battery cell", "electrochemical cell"),
            ("storage", "electrode", "electrode plate", "plate"),
            ("passive", "capacitor", "condenser"), ("passive", "inductor", "coil", "winding"),
            ("passive", "insulator", "insulating layer", "dielectric"),
            ("connect", "terminal", "connector", "contact"),
            ("connect", "cable", "wire", "conductor"),
            ("semi", "transistor", "switching element"),
            ("semi", "semiconductor chip", "die", "integrated circuit"),
        ],
        "mods": [
            ("lithium ion", "li ion"), ("solid state", "all solid"),
            ("rechargeable", "secondary"), ("flexible", "bendable"),
            ("thin film", "thin layer"), ("high voltage", "high potential"),
        ],
    },
    "G06": {
        "heads": [
            ("compute", "processor", "cpu", "central processing unit", "microprocessor"),
            ("compute", "bus", "data bus", "interconnect"),
            ("store", "memory", "storage", "ram"),
            ("store", "database", "data store", "data repository"),
            ("media", "image", "picture", "photo"), ("io", "display", "screen", "monitor"),
            ("io", "mouse", "pointing device"),
            ("io", "user interface", "gui", "graphical interface"),
            ("soft", "algorithm", "procedure", "routine"),
            ("soft", "file", "document", "record"),
        ],
        "mods": [
            ("digital", "electronic"), ("virtual", "simulated"),
            ("encrypted", "secure", "cryptographic"), ("parallel", "concurrent"),
            ("cloud based", "remote", "networked"), ("touch", "touch sensitive"),
        ],
    },
    "A61": {
        "heads": [
            ("access", "catheter", "tube", "cannula"),
            ("access", "needle", "hypodermic needle", "injection needle"),
            ("access", "syringe", "injector", "injection device"),
            ("implant", "implant", "prosthesis", "implantable device"),
            ("implant", "stent", "vascular scaffold", "stent graft"),
            ("wound", "bandage", "wound dressing", "dressing"),
            ("wound", "suture", "stitch", "surgical thread"),
            ("drug", "tablet", "pill", "capsule"),
            ("drug", "ointment", "cream", "topical formulation"),
            ("bio", "cell", "tissue cell", "somatic cell"),
        ],
        "mods": [
            ("surgical", "operative"), ("sterile", "aseptic", "sterilized"),
            ("oral", "orally administered"), ("biodegradable", "bioresorbable", "absorbable"),
            ("disposable", "single use"), ("dental", "tooth"),
        ],
    },
    "C07": {
        "heads": [
            ("general", "compound", "chemical compound", "molecule"),
            ("general", "derivative", "analog", "analogue"),
            ("functional", "ester", "ester compound"),
            ("functional", "carboxylic acid", "acid", "organic acid"),
            ("functional", "salt", "acid addition salt", "pharmaceutically acceptable salt"),
            ("process", "solvent", "reaction medium", "diluent"),
            ("process", "catalyst", "catalytic agent", "promoter"),
            ("material", "polymer", "macromolecule", "resin"),
            ("structure", "ring", "ring system", "cyclic group"),
            ("structure", "alkyl group", "alkyl", "alkyl chain"),
        ],
        "mods": [
            ("aromatic", "aryl"), ("aliphatic", "acyclic"), ("substituted", "functionalized"),
            ("heterocyclic", "hetero ring"), ("halogenated", "chlorinated", "fluorinated"),
            ("crystalline", "crystal form"),
        ],
    },
    "F16": {
        "heads": [
            ("rotation", "bearing", "ball bearing", "roller bearing"),
            ("rotation", "shaft", "spindle", "axle"),
            ("transmission", "gear", "gearwheel", "cogwheel", "toothed wheel"),
            ("transmission", "clutch", "coupling"),
            ("fluid", "valve", "check valve", "shutoff valve"),
            ("fluid", "seal", "gasket", "sealing ring"), ("fluid", "pipe", "conduit", "tube"),
            ("elastic", "spring", "coil spring", "elastic member"),
            ("fastening", "bolt", "screw", "threaded fastener"),
            ("fastening", "nut", "lock nut"),
        ],
        "mods": [
            ("rotary", "rotating", "rotatable"), ("hydraulic", "fluid operated"),
            ("threaded", "screw threaded"), ("annular", "ring shaped"),
            ("sliding", "slidable"), ("elastic", "resilient"),
        ],
    },
    "B65": {
        "heads": [
            ("container", "container", "receptacle", "vessel"),
            ("container", "bottle", "flask", "jar"), ("container", "bag", "pouch", "sack"),
            ("container", "box", "carton", "crate"), ("closure", "lid", "cover", "cap"),
            ("closure", "seal", "closure seal", "sealing strip"),
            ("transport", "conveyor", "conveyor belt", "belt conveyor"),
            ("transport", "pallet", "skid", "loading platform"),
            ("marking", "label", "tag", "sticker"), ("wrap", "film", "wrap", "wrapping film"),
        ],
        "mods": [
            ("plastic", "polymeric"), ("sealed", "hermetically sealed", "airtight"),
            ("flexible", "pliable"), ("reusable", "returnable", "refillable"),
            ("cardboard", "paperboard", "corrugated"), ("tamper evident", "tamper proof"),
        ],
    },
    "H04": {
        "heads": [
            ("signal", "signal", "transmission signal", "waveform"),
            ("signal", "encoder", "coder", "codec"),
            ("radio", "antenna", "aerial", "radiating element"),
            ("radio", "receiver", "receiving unit"),
            ("radio", "transmitter", "transmitting unit", "sender"),
            ("network", "base station", "access point", "cell tower"),
            ("network", "channel", "communication channel", "link"),
            ("network", "terminal", "handset", "user equipment", "mobile station"),
            ("network", "cell", "coverage area", "radio cell"),
            ("data", "packet", "data packet", "frame"),
        ],
        "mods": [
            ("wireless", "radio", "cordless"), ("mobile", "cellular", "portable"),
            ("optical", "fiber optic"), ("broadband", "wideband"), ("digital", "discrete"),
        ],
    },
    "E04": {
        "heads": [
            ("structure", "wall", "partition", "wall element"),
            ("structure", "roof", "roofing", "roof covering"),
            ("structure", "floor", "flooring", "deck"),
            ("structure", "stair", "staircase", "stairway"),
            ("frame", "beam", "girder", "joist"), ("frame", "column", "pillar", "post"),
            ("cladding", "panel", "board", "slab"), ("cladding", "tile", "shingle"),
            ("opening", "window frame", "sash", "casement"),
            ("opening", "door frame", "jamb", "door casing"),
        ],
        "mods": [
            ("concrete", "cement", "reinforced concrete"),
            ("prefabricated", "precast", "modular"),
            ("load bearing", "structural", "supporting"),
            ("insulated", "thermally insulated", "insulating"), ("steel", "metal"),
            ("wooden", "timber", "wood"),
        ],
    },
}
CONTEXTS = list(DOMAINS)
# Positional modifiers shared by every domain, in opposite pairs that share letters.
OPPOSITES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("upper", "top"), ("lower", "bottom")),
    (("inner", "internal", "inside"), ("outer", "external", "outside")),
    (("front", "forward"), ("rear", "back")),
    (("inlet", "intake", "input"), ("outlet", "exhaust", "output")),
    (("first", "primary"), ("second", "secondary")),
    (("fixed", "stationary"), ("movable", "displaceable")),
]
# Stricter or milder examiners per context: an offset added to the latent score.
CONTEXT_OFFSET_SD = 0.06
# Raters are sparing with high scores: shifts every latent score down a little.
BASE_OFFSET = -0.06
GROUP_SIZE = 27  # mean number of targets per (anchor, context)
AMBIGUOUS_RATE = 0.12  # anchors whose head word has senses in several domains
SECOND_CONTEXT_RATE = 0.25  # anchors also shown under a second context


class _Lexicon:
    """Concept ids, surface forms, families and domains for every head and modifier."""

    def __init__(self) -> None:
        self.head_forms: list[tuple[str, ...]] = []
        self.head_family: list[str] = []
        self.head_domain: list[str] = []
        self.mod_forms: list[tuple[str, ...]] = []
        self.mod_domain: list[str] = []  # "" for positional modifiers
        self.domain_heads: dict[str, list[int]] = {}
        self.domain_mods: dict[str, list[int]] = {}
        for code, pools in DOMAINS.items():
            self.domain_heads[code] = []
            for family, *forms in pools["heads"]:
                self.domain_heads[code].append(len(self.head_forms))
                self.head_forms.append(tuple(forms))
                self.head_family.append(f"{code}:{family}")
                self.head_domain.append(code)
            self.domain_mods[code] = []
            for forms in pools["mods"]:
                self.domain_mods[code].append(len(self.mod_forms))
                self.mod_forms.append(tuple(forms))
                self.mod_domain.append(code)
        self.opposite: dict[int, int] = {}
        self.positional: list[int] = []
        for a, b in OPPOSITES:
            ia, ib = len(self.mod_forms), len(self.mod_forms) + 1
            self.mod_forms += [a, b]
            self.mod_domain += ["", ""]
            self.opposite[ia], self.opposite[ib] = ib, ia
            self.positional += [ia, ib]
        # Head words with a sense in more than one domain: word -> {domain: head id}.
        senses: dict[str, dict[str, int]] = {}
        for h, forms in enumerate(self.head_forms):
            senses.setdefault(forms[0], {})[self.head_domain[h]] = h
        self.ambiguous = {w: s for w, s in senses.items() if len(s) > 1}


class _Phrase:
    """A phrase as concepts with the surface form chosen for each (0 = the canonical word)."""

    def __init__(self, head: int, head_form: int, mods: list[tuple[int, int]],
                 plural: bool = False) -> None:
        self.head, self.head_form, self.mods, self.plural = head, head_form, mods, plural

    def text(self, lex: _Lexicon) -> str:
        words = [lex.mod_forms[m][f] for m, f in self.mods]
        head = lex.head_forms[self.head][self.head_form]
        if self.plural:
            head = _plural(head)
        return " ".join([*words, head])


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _similarity(lex: _Lexicon, a: _Phrase, t: _Phrase) -> float:
    """The hidden latent similarity of target ``t`` to anchor ``a`` (meaning, not letters)."""
    if t.head == a.head:
        head = 1.0 if t.head_form == a.head_form else 0.8
    elif lex.head_family[t.head] == lex.head_family[a.head]:
        head = 0.45
    elif lex.head_domain[t.head] == lex.head_domain[a.head]:
        head = 0.2
    else:
        head = 0.0
    a_mods = dict(a.mods)
    t_mods = dict(t.mods)
    credit, n = 0.0, 0
    for m, f in a_mods.items():
        n += 1
        if m in t_mods:
            credit += 1.0 if t_mods[m] == f else 0.85
        elif lex.opposite.get(m) in t_mods:
            credit -= 1.0
    for m in t_mods:
        if m not in a_mods and lex.opposite.get(m) not in a_mods:
            n += 1  # a modifier the anchor lacks: narrower, so less similar
    mod_term = credit / n if n else 1.0
    return head * (0.6 + 0.4 * mod_term) + 0.2 * (1.0 - head) * max(mod_term, 0.0) * (head > 0)


def _make_anchor(rng: np.random.Generator, lex: _Lexicon, code: str,
                 head: int | None = None) -> _Phrase:
    if head is None:
        head = int(rng.choice(lex.domain_heads[code]))
    n_mods = int(rng.choice([0, 1, 2], p=[0.3, 0.5, 0.2]))
    pool = lex.domain_mods[code] if rng.random() < 0.7 else lex.positional
    chosen = rng.choice(pool, size=min(n_mods, len(pool)), replace=False)
    mods = [(int(m), 0) for m in chosen]
    if any(m in lex.opposite and lex.opposite[m] in dict(mods) for m, _ in mods):
        mods = mods[:1]
    head_form = int(rng.integers(min(2, len(lex.head_forms[head]))))
    return _Phrase(head, head_form, mods)


def _other_form(rng: np.random.Generator, n_forms: int, current: int) -> int:
    if n_forms == 1:
        return current
    return int((current + 1 + rng.integers(n_forms - 1)) % n_forms)


def _make_target(rng: np.random.Generator, lex: _Lexicon, a: _Phrase, code: str,
                 senses: dict[str, int] | None) -> _Phrase:
    """A target for anchor ``a`` (already read in context ``code``) by a random relation."""
    kinds = ["inflect", "synonym", "drop_mod", "add_mod", "swap_mod", "opposite", "family",
             "domain", "head_only", "unrelated", "other_sense"]
    p = np.array([0.03, 0.11, 0.08, 0.09, 0.08, 0.07, 0.15, 0.17, 0.05, 0.11, 0.06])
    if senses is None:
        p[-1] = 0.0
    if not any(m in lex.opposite for m, _ in a.mods):
        p[kinds.index("opposite")] *= 0.3
    kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
    n_head = len(lex.head_forms[a.head])
    mods = list(a.mods)
    domain = lex.head_domain[a.head]

    def synonym_mods(ms: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [(m, _other_form(rng, len(lex.mod_forms[m]), f) if rng.random() < 0.6 else f)
                for m, f in ms]

    def new_mod(exclude: list[tuple[int, int]]) -> tuple[int, int]:
        taken = {m for m, _ in exclude} | {lex.opposite.get(m, -1) for m, _ in exclude}
        pool = lex.domain_mods[domain] if rng.random() < 0.6 else lex.positional
        free = [m for m in pool if m not in taken]
        m = int(rng.choice(free))
        return m, int(rng.integers(len(lex.mod_forms[m])))

    if kind == "inflect":
        return _Phrase(a.head, a.head_form, mods, plural=True)
    if kind == "synonym":
        return _Phrase(a.head, _other_form(rng, n_head, a.head_form), synonym_mods(mods))
    if kind == "drop_mod" and mods:
        keep = [mods[i] for i in sorted(rng.choice(len(mods), len(mods) - 1, replace=False))]
        return _Phrase(a.head, int(rng.integers(n_head)), keep)
    if kind in ("drop_mod", "add_mod"):
        extra = new_mod(mods)
        return _Phrase(a.head, int(rng.integers(n_head)), [extra, *mods][:3])
    if kind == "swap_mod" and mods:
        i = int(rng.integers(len(mods)))
        mods[i] = new_mod(mods)
        return _Phrase(a.head, int(rng.integers(n_head)), mods)
    if kind in ("opposite", "swap_mod"):
        flip = [i for i, (m, _) in enumerate(mods) if m in lex.opposite]
        if flip:
            i = int(rng.choice(flip))
            m = lex.opposite[mods[i][0]]
            mods[i] = (m, int(rng.integers(len(lex.mod_forms[m]))))
        else:
            m = int(rng.choice(lex.positional))
            mods = [(m, 0), *mods][:2]
        return _Phrase(a.head, a.head_form, mods)
    if kind == "family":
        same = [h for h in lex.domain_heads[domain]
                if lex.head_family[h] == lex.head_family[a.head] and h != a.head]
        pool = same or [h for h in lex.domain_heads[domain] if h != a.head]
        h = int(rng.choice(pool))
        return _Phrase(h, int(rng.integers(len(lex.head_forms[h]))), synonym_mods(mods))
    if kind == "domain":
        pool = [h for h in lex.domain_heads[domain]
                if lex.head_family[h] != lex.head_family[a.head]]
        h = int(rng.choice(pool))
        keep = mods if rng.random() < 0.5 else []
        return _Phrase(h, int(rng.integers(len(lex.head_forms[h]))), keep)
    if kind == "head_only":
        return _Phrase(a.head, int(rng.integers(n_head)), [])
    if kind == "other_sense" and senses is not None:
        h = int(rng.choice([s for d, s in senses.items() if s != a.head]))
        return _Phrase(h, int(rng.integers(len(lex.head_forms[h]))), mods)
    # Unrelated: a phrase from another domain, sometimes sharing the anchor's modifiers.
    other = str(rng.choice([c for c in CONTEXTS if c != domain]))
    t = _make_anchor(rng, lex, other)
    t.head_form = int(rng.integers(len(lex.head_forms[t.head])))
    if mods and rng.random() < 0.3:
        t.mods = mods[:1]
    return t


def _anchor_groups(rng: np.random.Generator, lex: _Lexicon,
                   seen: set[str]) -> list[tuple[_Phrase, str, dict[str, int] | None]]:
    """A new anchor as (phrase read in a context, the context, its word's senses or None)."""
    if rng.random() < AMBIGUOUS_RATE:  # an ambiguous head word, shown in two of its domains
        word = str(rng.choice(sorted(lex.ambiguous)))
        senses = lex.ambiguous[word]
        codes = [str(c) for c in rng.choice(sorted(senses), size=2, replace=False)]
        base = _make_anchor(rng, lex, codes[0], head=senses[codes[0]])
        # Only positional modifiers: they make sense in every domain.
        mods = [(m, f) for m, f in base.mods if lex.mod_domain[m] == ""]
        text = _Phrase(senses[codes[0]], 0, mods).text(lex)
        if text in seen:
            return []
        seen.add(text)
        return [(_Phrase(senses[code], 0, mods), code, senses) for code in codes]
    code = str(rng.choice(CONTEXTS))
    a = _make_anchor(rng, lex, code)
    if a.text(lex) in seen:
        return []
    seen.add(a.text(lex))
    groups: list[tuple[_Phrase, str, dict[str, int] | None]] = [(a, code, None)]
    if rng.random() < SECOND_CONTEXT_RATE:  # also filed under a second, unrelated context
        groups.append((a, str(rng.choice([c for c in CONTEXTS if c != code])), None))
    return groups


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write out_dir/public/{train,test,sample_submission}.csv and out_dir/private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    lex = _Lexicon()
    offsets = dict(zip(CONTEXTS, rng.normal(0.0, CONTEXT_OFFSET_SD, len(CONTEXTS)), strict=True))
    n = N_TRAIN + N_TEST

    rows: list[tuple[str, str, str, float]] = []
    seen: set[str] = set()
    pairs: set[tuple[str, str, str]] = set()
    # Anchors one at a time, each read in one or two contexts with a few dozen targets each,
    # until there are enough rows.
    while len(rows) < n:
        for a, code, senses in _anchor_groups(rng, lex, seen):
            anchor_text = a.text(lex)
            quota = max(3, int(round(rng.gamma(2.0, GROUP_SIZE / 2.0))))
            for _ in range(quota * 4):
                if quota <= 0:
                    break
                t = _make_target(rng, lex, a, code, senses)
                target_text = t.text(lex)
                if target_text == anchor_text or (anchor_text, target_text, code) in pairs:
                    continue
                pairs.add((anchor_text, target_text, code))
                latent = (_similarity(lex, a, t) + BASE_OFFSET + offsets[code]
                          + rng.normal(0.0, NOISE_SD))
                rows.append((anchor_text, target_text, code, latent))
                quota -= 1
    order = rng.permutation(len(rows))[:n]
    frame = pd.DataFrame([rows[i] for i in order], columns=["anchor", "target", "context", "latent"])
    score = np.clip(np.round(frame["latent"].to_numpy() * 4), 0, 4)
    shift = rng.random(len(frame)) < SHIFT_RATE
    score = np.clip(score + shift * rng.choice([-1, 1], len(frame)), 0, 4) / 4
    frame["score"] = score

    ids: set[str] = set()
    while len(ids) < len(frame):
        ids.update(f"{x:016x}" for x in rng.integers(0, 2**63, len(frame) - len(ids)))
    frame.insert(0, "id", rng.permutation(sorted(ids)))
    frame = frame.drop(columns="latent")

    train = frame.iloc[:N_TRAIN].reset_index(drop=True)
    test = frame.iloc[N_TRAIN:].reset_index(drop=True)
    (out_dir / "public").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "public" / "train.csv", index=False)
    test.drop(columns="score").to_csv(out_dir / "public" / "test.csv", index=False)
    # As in MLE-bench, the sample submission is all zeros: it shows the format only (a
    # constant has no Pearson correlation, so it is not a valid submission).
    test[["id"]].assign(score=0).to_csv(out_dir / "public" / "sample_submission.csv", index=False)
    test[["id", "score"]].to_csv(out_dir / "private" / "answers.csv", index=False)
