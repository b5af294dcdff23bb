"""The programs both reproductions choose among, all built from spooky-author's reference solutions.

Duration bias: four real programs of different speed and quality (the task's fast and strong
references, a middle variant written here, and a fast program with a bug at prediction time,
the kind of failure a code-writing policy keeps producing).

Partial credit: candidates made by mutating the fast reference at five stages (imports, data
loading, model definition, training, submission). Each stage keeps the reference text or
applies one of two realistic bugs, so a candidate is a tuple of per-stage choices and only the
all-reference tuple writes a valid submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import product

from mle_gym.spec import load_task

TASK = "spooky-author"


@cache
def reference(name: str) -> str:
    """A reference solution of the task: ``fast`` or ``strong``."""
    return (load_task(TASK).folder / "solutions" / f"{name}.py").read_text()


# Character 2-4-gram TF-IDF and a logistic regression: it sees the punctuation habits the word
# tokenizer drops, so it beats the fast word model, and it is slower; the cross-validated stack
# of strong.py is better and slower still.
MEDIUM = '''"""Middle model: character 2-4-gram TF-IDF + logistic regression."""

import os
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")
classes = ["EAP", "HPL", "MWS"]

char_vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), sublinear_tf=True, min_df=2)
X = char_vec.fit_transform(train["text"])
X_test = char_vec.transform(test["text"])

model = LogisticRegression(C=3.0, max_iter=2000)
model.fit(X, train["author"])
pred = model.predict_proba(X_test)
sub = pd.DataFrame(pred, columns=model.classes_)[classes]
sub.insert(0, "id", test["id"])
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
'''


# The asynchronous reproduction's programs: short, each a real model, and one text with one
# line changed, so that a tiny model warm-started on them writes each of them intact (with
# three unrelated programs it wrote the longest one intact about once in 30 draws) and the
# policy's choice is that line. FAST is a naive Bayes on 300 word counts (weak, quick); SLOW
# stacks word 1-2-gram and character 1-5-gram TF-IDF under a logistic regression (much
# better, several times the compute); BROKEN is FAST reading a column that does not exist,
# after training.
ASYNC_SKELETON = """import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_union
train = pd.read_csv("input/train.csv")
test = pd.read_csv("input/test.csv")
vec = {vec}
model = {model}.fit(vec.fit_transform(train["text"]), train["author"])
sub = pd.DataFrame(model.predict_proba(vec.transform(test["text"])), columns=model.classes_)
sub.insert(0, "id", test["id"])
sub.to_csv("submission/submission.csv", index=False)
"""
ASYNC_FAST = ASYNC_SKELETON.format(vec="CountVectorizer(max_features=300)", model="MultinomialNB()")
ASYNC_SLOW = ASYNC_SKELETON.format(
    vec='make_union(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)), '
    'TfidfVectorizer(sublinear_tf=True, analyzer="char", ngram_range=(1, 5)))',
    model="LogisticRegression(C=5.0, max_iter=3000)",
)


def async_programs() -> dict[str, str]:
    """Name -> program for the asynchronous reproduction: fast, slow, broken."""
    broken = ASYNC_FAST.replace('vec.transform(test["text"])', 'vec.transform(test["sentence"])')
    assert broken != ASYNC_FAST
    return {"fast": ASYNC_FAST, "slow": ASYNC_SLOW, "broken": broken}


def mutate(source: str, old: str, new: str) -> str:
    """Replace the one occurrence of ``old``; a reference that changed shape is an error."""
    count = source.count(old)
    if count != 1:
        raise ValueError(
            f"mutation target found {count} times, expected once: {old!r}; "
            "the reference solution changed, update baselines/repro/programs.py"
        )
    return source.replace(old, new)


def duration_programs() -> dict[str, str]:
    """Name -> program for the duration-bias policy, fastest first."""
    fast = reference("fast")
    broken = mutate(
        fast,
        'pred = model.predict_proba(test["text"])',
        'pred = model.predict_proba(test["sentence"])',
    )
    return {"fast": fast, "medium": MEDIUM, "strong": reference("strong"), "broken": broken}


@dataclass(frozen=True)
class Stage:
    """One place in the reference where a candidate may carry a bug."""

    name: str
    target: str  # the reference text at this stage
    bugs: tuple[tuple[str, str], ...]  # (label, replacement)

    @property
    def options(self) -> tuple[str, ...]:
        return ("ok", *(label for label, _ in self.bugs))


STAGES: tuple[Stage, ...] = (
    Stage(
        "imports",
        "from sklearn.feature_extraction.text import TfidfVectorizer",
        (
            ("british spelling", "from sklearn.feature_extraction.text import TfidfVectoriser"),
            ("wrong module", "from sklearn.feature_extraction import TfidfVectorizer"),
        ),
    ),
    Stage(
        "data loading",
        'train = pd.read_csv(input_dir / "train.csv")',
        (
            (
                "kaggle path",
                'train = pd.read_csv("/kaggle/input/spooky-author-identification/train.csv")',
            ),
            ("zipped name", 'train = pd.read_csv(input_dir / "train.csv.zip")'),
        ),
    ),
    Stage(
        "model definition",
        "model = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=3.0, max_iter=1000))",
        (
            (
                "vectorizer keyword",
                "model = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram=(1, 2)), LogisticRegression(C=3.0, max_iter=1000))",
            ),
            (
                "regression keyword",
                "model = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=3.0, max_iters=1000))",
            ),
        ),
    ),
    Stage(
        "training",
        "model.fit(X_tr, y_tr)",
        (
            ("misaligned labels", "model.fit(X_tr, y_tr.iloc[1:])"),
            ("frame not column", "model.fit(X_tr.to_frame(), y_tr)"),
        ),
    ),
    Stage(
        "submission",
        'sub.insert(0, "id", test["id"])',
        (
            ("no id column", "sub = sub.reset_index(drop=True)"),
            ("wrong column", 'sub.insert(0, "id", test["ID"])'),
        ),
    ),
)


def candidate(choice: tuple[int, ...]) -> str:
    """The program for one choice per stage (0 keeps the reference, k > 0 applies bug k)."""
    if len(choice) != len(STAGES):
        raise ValueError(f"a candidate picks one option for each of the {len(STAGES)} stages")
    source = reference("fast")
    for stage, pick in zip(STAGES, choice, strict=True):
        if pick:
            source = mutate(source, stage.target, stage.bugs[pick - 1][1])
    return source


def all_choices() -> list[tuple[int, ...]]:
    """Every candidate in the pool (3^5 = 243; exactly one is bug-free)."""
    return list(product(*(range(len(s.options)) for s in STAGES)))


def describe(choice: tuple[int, ...]) -> str:
    bugs = [f"{s.name}: {s.options[c]}" for s, c in zip(STAGES, choice, strict=True) if c]
    return "; ".join(bugs) or "reference (no bug)"
