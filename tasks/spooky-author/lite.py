"""Offline "lite" data for spooky-author: synthetic horror sentences in three invented styles.

Every sentence is built from grammar templates and shared word pools. The three authors differ in
three ways:

* word choice: each author has its own weights (a Dirichlet draw per pool, so the authors share
  every word but favour different ones) over subjects, places, emotions, intransitive verbs,
  interjections, conjunctions and sentence templates; word unigrams see this;
* character-level habits: how clauses are joined (comma, semicolon, dash), how place phrases are
  set off, how sentences end (full stop, exclamation mark, question mark), archaic word forms
  ("upon", "whilst", "'tis") and sentence length; punctuation is invisible to word tokenizers;
* word pairs only: each author joins adjectives to nouns and adverbs to verbs through its own
  permutation, while every author uses each adjective, noun, adverb and verb equally often, so
  unigram counts carry none of this signal; word bigrams (or character n-grams across a space)
  do.

Some sentences are written in a neutral voice (uniform weights, random pairs, average habits) and
a few labels are replaced at random, so the Bayes error is well above zero.
"""

from __future__ import annotations

import pathlib
from bisect import bisect_right

import numpy as np
import pandas as pd

AUTHORS = ("EAP", "HPL", "MWS")
PRIORS = np.array([0.4035, 0.2878, 0.3087])  # as in the Kaggle training set
N_TRAIN = 4000
N_TEST = 1000

NEUTRAL_RATE = 0.12  # sentences written with the average style and uniform pairs
LABEL_NOISE = 0.03  # labels replaced with a random author
PREF_CONC = 1.5  # Dirichlet concentration of the word preferences (lower: more distinct authors)
PAIR_KEEP = 0.8  # chance that a pair follows the author's permutation (else uniform)

SUBJECTS = [
    "I", "we", "he", "she", "they", "my companion", "the old man", "the stranger", "my friend",
    "the physician", "the sailor", "the scholar", "the peasant", "the child", "my father",
    "the woman", "the youth", "the traveller", "the landlord", "the priest", "my sister",
    "the captain", "the antiquarian", "the watchman", "our host", "the professor", "my guide",
    "the widow", "the boy", "the artist",
]
# Transitive verbs as (base, past): chosen uniformly by every author.
VERBS = [
    ("behold", "beheld"), ("seize", "seized"), ("examine", "examined"), ("touch", "touched"),
    ("fear", "feared"), ("seek", "sought"), ("follow", "followed"), ("approach", "approached"),
    ("remember", "remembered"), ("find", "found"), ("observe", "observed"), ("hear", "heard"),
    ("carry", "carried"), ("open", "opened"), ("enter", "entered"), ("cross", "crossed"),
    ("watch", "watched"), ("study", "studied"), ("avoid", "avoided"), ("guard", "guarded"),
    ("describe", "described"), ("conceal", "concealed"), ("discover", "discovered"),
    ("trace", "traced"),
]
ADVERBS = [
    "slowly", "silently", "eagerly", "suddenly", "cautiously", "anxiously", "gently", "hurriedly",
    "vainly", "wildly", "calmly", "fearfully", "steadily", "softly", "dimly", "quietly",
    "bitterly", "fondly", "reluctantly", "strangely", "earnestly", "carefully", "boldly",
    "patiently",
]
ADJECTIVES = [
    "ancient", "dark", "pale", "silent", "hideous", "gloomy", "strange", "cold", "narrow", "vast",
    "crumbling", "lonely", "bright", "distant", "forgotten", "terrible", "gentle", "wretched",
    "curious", "hollow", "black", "grey", "ruined", "secret", "wild", "bleak", "solemn", "faint",
    "heavy", "silver",
]
NOUNS = [
    "house", "door", "chamber", "tomb", "forest", "sea", "window", "letter", "mountain", "river",
    "portrait", "manuscript", "vault", "shore", "garden", "city", "tower", "stair", "lamp",
    "altar", "bridge", "valley", "ship", "cottage", "corridor", "face", "mirror", "statue",
    "field", "cavern",
]
PLACES = [
    "in the silence of the night", "beneath the waning moon", "on the threshold",
    "within the ancient walls", "across the frozen plain", "beside the dying fire",
    "among the ruins", "at the break of day", "through the mist", "under the leaden sky",
    "before the altar", "on the shore of the lake", "in the deserted street",
    "beyond the western hills", "among the mountains", "in the cellar", "on the summit",
    "through the long winter", "in my solitude", "upon the marsh", "beneath the elms",
    "within the crypt", "on the deck", "in the library", "under the stars", "in the village",
    "before the gate", "among the graves", "across the water", "in the garret",
]
INTRANSITIVE = [
    "stood", "lay", "loomed", "waited", "trembled", "rose", "vanished", "remained", "appeared",
    "crumbled", "glimmered", "slept", "wandered", "lingered", "wept", "shone", "decayed", "rested",
]
EMOTION_ADJ = [
    "nameless", "deep", "sudden", "unutterable", "sweet", "mortal", "overwhelming", "strange",
    "quiet", "bitter", "cosmic", "tender", "profound", "morbid", "singular", "fierce",
]
EMOTIONS = [
    "horror", "despair", "grief", "wonder", "dread", "madness", "joy", "hope", "sorrow", "fear",
    "loathing", "melancholy", "anguish", "curiosity", "affection", "remorse", "awe", "disgust",
]
FEEL_VERBS = ["felt", "knew", "suffered", "endured", "perceived", "conceived"]
INTERJECTIONS = ["Alas", "Oh", "Ah", "Indeed", "Yet", "Surely", "Still", "Truly", "Then", "Now"]
CONJUNCTIONS = ["and", "but", "yet", "for", "while", "so that", "and then", "although"]
ARCHAIC = {
    "on": "upon", "among": "amongst", "while": "whilst", "before": "ere", "often": "oft",
    "it is": "'tis", "perhaps": "mayhap", "nothing": "naught",
}
N_TEMPLATES = 9

# Habits, fixed per author: mean extra clauses, joins, endings and archaic forms.
STYLE = {
    "EAP": {"clauses": 1.30, "semicolon": 0.55, "dash": 0.05, "exclaim": 0.03, "question": 0.10,
            "archaic": 0.30, "interject": 0.10, "comma_front": 0.60, "setoff_comma": 0.45,
            "setoff_dash": 0.05},
    "HPL": {"clauses": 0.85, "semicolon": 0.08, "dash": 0.40, "exclaim": 0.22, "question": 0.02,
            "archaic": 0.12, "interject": 0.06, "comma_front": 0.15, "setoff_comma": 0.10,
            "setoff_dash": 0.30},
    "MWS": {"clauses": 1.00, "semicolon": 0.30, "dash": 0.10, "exclaim": 0.12, "question": 0.05,
            "archaic": 0.50, "interject": 0.22, "comma_front": 0.40, "setoff_comma": 0.25,
            "setoff_dash": 0.08},
}
POOLS = {
    "subject": len(SUBJECTS), "place": len(PLACES), "intrans": len(INTRANSITIVE),
    "emo_adj": len(EMOTION_ADJ), "emotion": len(EMOTIONS), "feel": len(FEEL_VERBS),
    "interjection": len(INTERJECTIONS), "conjunction": len(CONJUNCTIONS),
    "template": N_TEMPLATES,
}


class _Author:
    """One author's sampling parameters: pool weights, pair permutations and habits."""

    def __init__(self, weights: dict[str, np.ndarray], adj_noun: np.ndarray,
                 adv_verb: np.ndarray, style: dict[str, float]) -> None:
        self.weights = weights
        self.cdf = {name: np.cumsum(w).tolist() for name, w in weights.items()}
        self.adj_noun = adj_noun
        self.adv_verb = adv_verb
        self.style = style


def _make_authors(rng: np.random.Generator) -> dict[str, _Author]:
    authors = {}
    for a in AUTHORS:
        weights = {name: rng.dirichlet(np.full(k, PREF_CONC)) for name, k in POOLS.items()}
        authors[a] = _Author(weights, rng.permutation(len(NOUNS)), rng.permutation(len(VERBS)),
                             STYLE[a])
    style = {k: float(np.mean([STYLE[a][k] for a in AUTHORS])) for k in STYLE["EAP"]}
    uniform = {name: np.full(k, 1.0 / k) for name, k in POOLS.items()}
    # The neutral voice: uniform weights, average habits; it is written with pair_keep = 0.
    authors["neutral"] = _Author(uniform, np.arange(len(NOUNS)), np.arange(len(VERBS)), style)
    return authors


class _Writer:
    """Writes sentences for one author with a shared random generator."""

    def __init__(self, rng: np.random.Generator, author: _Author, pair_keep: float) -> None:
        self.rng = rng
        self.a = author
        self.pair_keep = pair_keep

    def index(self, pool: str) -> int:
        cdf = self.a.cdf[pool]
        return min(bisect_right(cdf, self.rng.random()), len(cdf) - 1)

    def pick(self, pool: str, words: list[str]) -> str:
        return words[self.index(pool)]

    def noun_phrase(self, article: str = "the") -> str:
        i = int(self.rng.integers(len(ADJECTIVES)))
        if self.rng.random() < self.pair_keep:
            j = int(self.a.adj_noun[i])
        else:
            j = int(self.rng.integers(len(NOUNS)))
        adj = ADJECTIVES[i]
        if article == "a" and adj[0] in "aeiou":
            article = "an"
        return f"{article} {adj} {NOUNS[j]}"

    def action(self) -> str:
        """A past-tense transitive verb, often led by its paired adverb."""
        if self.rng.random() < 0.6:
            i = int(self.rng.integers(len(ADVERBS)))
            if self.rng.random() < self.pair_keep:
                j = int(self.a.adv_verb[i])
            else:
                j = int(self.rng.integers(len(VERBS)))
            return f"{ADVERBS[i]} {VERBS[j][1]}"
        return VERBS[int(self.rng.integers(len(VERBS)))][1]

    def clause(self) -> str:
        r = self.rng
        t = self.index("template")
        subj = self.pick("subject", SUBJECTS)
        place = self.pick("place", PLACES)
        if t == 0:
            return f"{subj} {self.action()} {self.noun_phrase()}"
        if t == 1:
            return f"{subj} {self.action()} {self.noun_phrase()}{self.setoff(place)}"
        if t == 2:
            return f"{self.noun_phrase()} {self.pick('intrans', INTRANSITIVE)}{self.setoff(place)}"
        if t == 3:
            feel = self.pick("feel", FEEL_VERBS)
            emo = f"{self.pick('emo_adj', EMOTION_ADJ)} {self.pick('emotion', EMOTIONS)}"
            article = "an" if emo[0] in "aeiou" else "a"
            return f"{subj} {feel} {article} {emo}{self.setoff(place)}"
        if t == 4:
            return f"there was {self.noun_phrase('a')}{self.setoff(place)}"
        if t == 5:
            verb = VERBS[int(r.integers(len(VERBS)))][0]
            return f"{subj} could not {verb} {self.noun_phrase()}"
        if t == 6:
            sep = "," if r.random() < self.a.style["comma_front"] else ""
            return f"{place}{sep} {subj} {self.action()} {self.noun_phrase()}"
        if t == 7:
            emo = self.pick("emotion", EMOTIONS)
            return f"it is often with {emo} that {subj} {self.action()} {self.noun_phrase()}"
        return f"perhaps nothing {self.pick('intrans', INTRANSITIVE)} {place} but {self.noun_phrase()}"

    def setoff(self, place: str) -> str:
        """A trailing place phrase, set off by a comma or a dash as the author's habit goes."""
        u, s = self.rng.random(), self.a.style
        if u < s["setoff_comma"]:
            return f", {place}"
        if u < s["setoff_comma"] + s["setoff_dash"]:
            return f" -- {place}"
        return f" {place}"

    def join(self) -> str:
        r, s = self.rng, self.a.style
        conj = self.pick("conjunction", CONJUNCTIONS)
        u = r.random()
        if u < s["semicolon"]:
            return f"; {conj} "
        if u < s["semicolon"] + s["dash"]:
            return f" -- {conj} "
        return f", {conj} "

    def sentence(self) -> str:
        r, s = self.rng, self.a.style
        n_clauses = 1 + int(r.poisson(s["clauses"]))
        text = self.clause()
        for _ in range(n_clauses - 1):
            text += self.join() + self.clause()
        if r.random() < s["archaic"]:
            words = f" {text} "
            for old, new in ARCHAIC.items():
                words = words.replace(f" {old} ", f" {new} ")
            text = words.strip()
        if r.random() < s["interject"]:
            text = f"{self.pick('interjection', INTERJECTIONS)}, {text}"
        u = r.random()
        end = "!" if u < s["exclaim"] else "?" if u < s["exclaim"] + s["question"] else "."
        first = 1 if text[0] == "'" else 0
        return text[: first + 1].upper() + text[first + 1 :] + end


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write out_dir/public/{train.csv,test.csv,sample_submission.csv} and out_dir/private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    authors = _make_authors(rng)
    n = N_TRAIN + N_TEST

    labels = rng.choice(len(AUTHORS), size=n, p=PRIORS)
    neutral = rng.random(n) < NEUTRAL_RATE
    texts = []
    for k in range(n):
        if neutral[k]:
            writer = _Writer(rng, authors["neutral"], 0.0)
        else:
            writer = _Writer(rng, authors[AUTHORS[labels[k]]], PAIR_KEEP)
        texts.append(writer.sentence())
    flip = rng.random(n) < LABEL_NOISE
    labels = np.where(flip, rng.integers(len(AUTHORS), size=n), labels)

    numbers = rng.choice(100_000, size=n, replace=False)
    ids = np.array([f"id{x:05d}" for x in numbers])
    names = np.array(AUTHORS)[labels]

    train = pd.DataFrame({"id": ids[:N_TRAIN], "text": texts[:N_TRAIN], "author": names[:N_TRAIN]})
    test = pd.DataFrame({"id": ids[N_TRAIN:], "text": texts[N_TRAIN:]})
    answers = pd.DataFrame({"id": test["id"]})
    for c, a in enumerate(AUTHORS):
        answers[a] = (labels[N_TRAIN:] == c).astype(int)

    prior = np.round([(train["author"] == a).mean() for a in AUTHORS], 6)
    prior[-1] = round(1.0 - prior[0] - prior[1], 6)
    sample = pd.DataFrame({"id": test["id"]})
    for a, p in zip(AUTHORS, prior, strict=True):
        sample[a] = p

    (out_dir / "public").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "public" / "train.csv", index=False)
    test.to_csv(out_dir / "public" / "test.csv", index=False)
    sample.to_csv(out_dir / "public" / "sample_submission.csv", index=False)
    answers.to_csv(out_dir / "private" / "answers.csv", index=False)
