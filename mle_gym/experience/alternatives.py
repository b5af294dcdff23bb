"""Alternative programs for a task: realistic bugs at each stage and weaker or slower models.

Built from the task's reference programs (``tasks/<slug>/solutions/fast.py`` and
``strong.py``) or from any programs you pass, by small edits located on the syntax tree and
applied to the text (comments and layout survive). Every program returned parses, differs
from its base, and carries a label::

    from mle_gym.experience import alternatives
    for alt in alternatives("spooky-author", k=8, seed=0):
        alt.kind, alt.stage, alt.mutation, alt.base, alt.program

Kinds: ``bug`` (it should fail somewhere), ``weaker`` (a cheaper or cruder model),
``slower`` (the same model doing more work) and ``reference`` (another reference program
as it is). Stages: ``imports``, ``paths``, ``columns``, ``training``, ``submission``,
``data``, ``modelling``. The label is the edit's intent; what really happens is what the
environment reports when the program runs (a "weaker" edit can score better).

The same seed gives the same list; the issue-13 and issue-16 populations reuse it.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

from mle_gym.spec import TaskSpec, load_task

KINDS = ("bug", "weaker", "slower", "reference")
STAGES = ("imports", "paths", "columns", "training", "submission", "data", "modelling")
# Modules the sandbox image does not install (mle_gym/sandbox/image_recipe/requirements.txt).
NOT_INSTALLED = ("xgboost", "catboost", "torch", "tensorflow", "optuna")
_STDLIB = {"os", "re", "json", "sys", "math", "time", "random", "pathlib", "collections",
           "itertools", "functools", "typing", "warnings", "__future__", "dataclasses"}


@dataclass(frozen=True)
class Alternative:
    """One alternative program and what was done to make it."""

    kind: str  # one of KINDS
    stage: str  # one of STAGES
    mutation: str  # the edit's name, a key of MUTATIONS (or "reference")
    base: str  # the name of the program it was made from ("fast", "strong", ...)
    program: str
    description: str  # one line, for people and for reflections

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.stage}/{self.mutation}"


class _Source:
    """A program's text with its syntax tree, and edits addressed by tree positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tree = ast.parse(text)
        self.lines = text.splitlines(keepends=True)
        self._starts = [0]
        for line in self.lines:
            self._starts.append(self._starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        """Character offset of a tree position (``col`` counts UTF-8 bytes)."""
        line = self.lines[lineno - 1]
        return self._starts[lineno - 1] + len(line.encode()[:col].decode(errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),
                self.offset(node.end_lineno, node.end_col_offset))

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def replace(self, node: ast.AST, new: str) -> str:
        start, end = self.span(node)
        return self.text[:start] + new + self.text[end:]

    def indent(self, stmt: ast.stmt) -> str:
        line = self.lines[stmt.lineno - 1]
        return line[: len(line) - len(line.lstrip())]

    def insert_after(self, stmt: ast.stmt, code: str) -> str:
        at = self._starts[stmt.end_lineno]
        pad = self.indent(stmt)
        block = "".join(pad + line + "\n" for line in code.splitlines())
        text = self.text if self.text.endswith("\n") or at < len(self.text) else self.text + "\n"
        return text[:at] + block + text[at:]

    def insert_before(self, stmt: ast.stmt, code: str) -> str:
        at = self._starts[stmt.lineno - 1]
        pad = self.indent(stmt)
        return self.text[:at] + "".join(pad + line + "\n" for line in code.splitlines()) + self.text[at:]

    def statements(self) -> list[ast.stmt]:
        """Every statement, in source order."""
        found = [n for n in ast.walk(self.tree) if isinstance(n, ast.stmt)]
        return sorted(found, key=lambda n: (n.lineno, n.col_offset))

    def calls(self, method: str) -> list[ast.Call]:
        """Calls ``<anything>.<method>(...)``, in source order."""
        found = [n for n in ast.walk(self.tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr == method]
        return sorted(found, key=lambda n: (n.lineno, n.col_offset))

    def statement_of(self, node: ast.AST) -> ast.stmt:
        """The innermost statement holding ``node``."""
        best = None
        for stmt in self.statements():
            if (stmt.lineno, stmt.col_offset) <= (node.lineno, node.col_offset) and (
                    stmt.end_lineno, stmt.end_col_offset) >= (node.end_lineno, node.end_col_offset):
                best = stmt  # later statements in source order are nested deeper
        assert best is not None
        return best


Edit = tuple[str, str]  # (new program, description)
Mutation = Callable[[_Source, TaskSpec, random.Random], "Edit | None"]


# -- bugs ------------------------------------------------------------------------------------

def _top_imports(src: _Source) -> list[ast.stmt]:
    return [n for n in src.tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]


def _missing_module(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    imports = _top_imports(src)
    if not imports:
        return None
    module = rng.choice(NOT_INSTALLED)
    alias = {"xgboost": "xgb", "catboost": "cb", "tensorflow": "tf"}.get(module)
    line = f"import {module}" + (f" as {alias}" if alias else "")
    return src.insert_after(imports[-1], line), f"imports {module}, which is not installed"


def _typo(name: str) -> str:
    head, _, last = name.rpartition(".")
    last = last[:-1] if last.endswith("s") and len(last) > 3 else last + "s"
    return f"{head}.{last}" if head else last


def _import_typo(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    options = []
    for node in _top_imports(src):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in _STDLIB:
                options.append((node, node.module))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in _STDLIB:
                    options.append((node, alias.name))
    if not options:
        return None
    node, module = rng.choice(options)
    text = src.segment(node)
    wrong = _typo(module)
    return (src.replace(node, text.replace(module, wrong, 1)),
            f"misspells the module {module} as {wrong}")


def _assignment(src: _Source, name: str) -> ast.Assign | None:
    for node in src.tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node
    return None


def _wrong_input_path(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    node = _assignment(src, "input_dir")
    if node is not None and rng.random() < 0.5:
        where = rng.choice(["/kaggle/input", "../input", f"/kaggle/input/{spec.kaggle_id}", "data"])
        return (src.replace(node.value, f'Path("{where}")'),
                f"reads the data from {where} instead of input/ ($MLE_INPUT_DIR)")
    names = [n for n in ast.walk(src.tree) if isinstance(n, ast.Constant)
             and isinstance(n.value, str) and n.value.startswith(("train.", "test."))]
    if not names:
        return None
    node = rng.choice(sorted(names, key=lambda n: (n.lineno, n.col_offset)))
    stem, _, ext = node.value.partition(".")
    wrong = rng.choice([f"{stem}_data.{ext}", f"{stem}s.{ext}", f"{stem.capitalize()}.{ext}"])
    return src.replace(node, repr(wrong)), f"opens input/{wrong}, a file that does not exist"


def _submission_call(src: _Source) -> ast.Call | None:
    calls = src.calls("to_csv")
    return calls[-1] if calls else None


def _submission_frame(src: _Source) -> str | None:
    call = _submission_call(src)
    if call is None or not isinstance(call.func, ast.Attribute):
        return None
    return src.segment(call.func.value)


def _missing_id(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    call, frame = _submission_call(src), _submission_frame(src)
    if call is None or not frame or not frame.isidentifier():
        return None
    line = f"{frame} = {frame}.drop(columns=[{spec.id_column!r}])"
    return (src.insert_before(src.statement_of(call), line),
            f"drops the id column {spec.id_column} from the submission")


def _wrong_column(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    call, frame = _submission_call(src), _submission_frame(src)
    if call is None or not frame or not frame.isidentifier():
        return None
    if rng.random() < 0.5:
        old = spec.id_column
        new = old.upper() if old != old.upper() else old.lower()
    else:
        old = rng.choice(spec.target_columns)
        new = rng.choice(["prediction", "target", f"{old}_pred", "label"])
        if new in spec.target_columns or new == spec.id_column:
            new = f"{old}_pred"
    line = f"{frame} = {frame}.rename(columns={{{old!r}: {new!r}}})"
    return (src.insert_before(src.statement_of(call), line),
            f"names the submission column {old} as {new}")


def _first_fit_with_target(src: _Source) -> list[ast.Call]:
    return [c for c in src.calls("fit") if len(c.args) >= 2]


def _fit_mismatch(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    fits = _first_fit_with_target(src)
    if not fits:
        return None
    call = fits[0]
    target = call.args[1]
    return (src.replace(target, f"{src.segment(target)}[:-1]"),
            "fits on one label fewer than rows (inconsistent numbers of samples)")


_RENAMES = {"max_iter": "max_iters", "C": "c", "n_estimators": "n_estimator",
            "learning_rate": "lr", "sublinear_tf": "sublinear", "max_leaf_nodes": "max_leaves",
            "alpha": "alpha_", "ngram_range": "ngrams", "min_df": "min_doc_freq",
            "random_state": "seed", "class_weight": "class_weights"}


def _sklearn_names(src: _Source) -> set[str]:
    return {alias.asname or alias.name for node in _top_imports(src)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn")
            for alias in node.names}


def _bad_hyperparameter(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    known = _sklearn_names(src)
    options = [(call, kw) for call in ast.walk(src.tree) if isinstance(call, ast.Call)
               and isinstance(call.func, ast.Name) and call.func.id in known
               for kw in call.keywords if kw.arg in _RENAMES]
    if not options:
        return None
    options.sort(key=lambda o: (o[1].lineno, o[1].col_offset))
    call, kw = rng.choice(options)
    # A keyword's node spans "name=value"; only the name changes.
    text = src.segment(kw)
    new = _RENAMES[kw.arg]
    return (src.replace(kw, new + text[len(kw.arg):]),
            f"passes {new}= to {call.func.id}, which takes {kw.arg}=")


def _wrong_file_name(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    call = _submission_call(src)
    if call is None or not call.args:
        return None
    name = rng.choice(["predictions.csv", "sub.csv", "submission_final.csv", "output.csv"])
    first = src.segment(call.args[0])
    return (src.replace(call.args[0], f"Path({first}).parent / {name!r}"),
            f"writes the submission to submission/{name} instead of {spec.submission_file}")


def _missing_header(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    call = _submission_call(src)
    if call is None:
        return None
    text = src.segment(call)
    if any(kw.arg == "header" for kw in call.keywords):
        return None
    return src.replace(call, text[:-1].rstrip() + ", header=False)"), "writes the submission without a header row"


def _wrong_row_count(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    call, frame = _submission_call(src), _submission_frame(src)
    if call is None or not frame:
        return None
    cut, why = rng.choice([(f"{frame}.iloc[:-1]", "one row short (off by one)"),
                           (f"{frame}.head(len({frame}) // 2)", "half of the test rows"),
                           (f"{frame}.drop_duplicates(subset={spec.target_columns[0]!r})",
                            "duplicate predictions dropped")])
    return src.replace(call.func.value, cut), f"writes a submission with {why}"


def _index_column(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    call = _submission_call(src)
    if call is None:
        return None
    for kw in call.keywords:
        if kw.arg == "index":
            return src.replace(kw, "index=True"), "writes the row index as an extra first column"
    return None


# -- weaker and slower models ----------------------------------------------------------------

_SIZES = ("n_estimators", "max_iter", "num_leaves", "max_leaf_nodes", "max_depth", "C",
          "alpha", "max_features", "num_boost_round")


def _sized_keywords(src: _Source) -> list[ast.keyword]:
    found = [kw for call in ast.walk(src.tree) if isinstance(call, ast.Call)
             for kw in call.keywords if kw.arg in _SIZES and isinstance(kw.value, ast.Constant)
             and isinstance(kw.value.value, (int, float)) and not isinstance(kw.value.value, bool)]
    return sorted(found, key=lambda kw: (kw.lineno, kw.col_offset))


def _scaled(kw: ast.keyword, factor: float) -> str:
    value = kw.value.value  # type: ignore[attr-defined]
    if kw.arg in ("C", "alpha") or isinstance(value, float):
        new = float(f"{value * factor:.3g}")
    else:
        new = max(2 if kw.arg in ("num_leaves", "max_leaf_nodes") else 1, round(value * factor))
    return f"{kw.arg}={new!r}"


def _smaller_model(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    options = _sized_keywords(src)
    if not options:
        return None
    kw = rng.choice(options)
    # Less capacity: fewer trees or iterations, smaller trees, stronger regularisation.
    factor = {"C": 0.01, "alpha": 100.0}.get(kw.arg) or rng.choice([0.05, 0.1, 0.2])
    new = _scaled(kw, factor)
    return src.replace(kw, new), f"a smaller or more constrained model ({src.segment(kw)} -> {new})"


def _bigger_model(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    options = [kw for kw in _sized_keywords(src) if kw.arg in ("n_estimators", "max_iter",
                                                                "num_boost_round")]
    if not options:
        return None
    kw = rng.choice(options)
    new = _scaled(kw, rng.choice([3, 4, 5]))
    return src.replace(kw, new), f"a bigger model ({src.segment(kw)} -> {new}): slower"


def _fewer_rows(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    node = _assignment(src, "train")
    if node is None:
        return None
    frac = rng.choice([0.2, 0.3, 0.5])
    line = f"train = train.sample(frac={frac}, random_state={rng.randrange(100)}).reset_index(drop=True)"
    return src.insert_after(node, line), f"trains on a {frac:.0%} sample of the training rows"


def _fewer_features(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    node = _assignment(src, "features")
    if node is None or not isinstance(node.value, (ast.ListComp, ast.List)):
        return None
    keep = rng.choice([4, 3, 2])
    line = f"features = features[: max(1, len(features) // {keep})]"
    return src.insert_after(node, line), f"keeps only the first 1/{keep} of the feature columns"


def _extra_work(src: _Source, spec: TaskSpec, rng: random.Random) -> Edit | None:
    fits = [c for c in _first_fit_with_target(src)]
    for call in fits:
        stmt = src.statement_of(call)
        if isinstance(stmt, ast.Expr) and stmt.value is call:
            times = rng.choice([3, 4, 5])
            body = src.segment(stmt)
            pad = src.indent(stmt)
            looped = f"for _repeat in range({times}):  # leftover from a seed sweep\n{pad}    {body}"
            return src.replace(stmt, looped), f"fits the same model {times} times over: slower, no better"
    return None


MUTATIONS: dict[str, tuple[str, str, Mutation]] = {
    "missing_module": ("bug", "imports", _missing_module),
    "import_typo": ("bug", "imports", _import_typo),
    "wrong_input_path": ("bug", "paths", _wrong_input_path),
    "missing_id_column": ("bug", "columns", _missing_id),
    "wrong_column_name": ("bug", "columns", _wrong_column),
    "fit_shape_mismatch": ("bug", "training", _fit_mismatch),
    "bad_hyperparameter": ("bug", "training", _bad_hyperparameter),
    "wrong_file_name": ("bug", "submission", _wrong_file_name),
    "missing_header": ("bug", "submission", _missing_header),
    "wrong_row_count": ("bug", "submission", _wrong_row_count),
    "index_column": ("bug", "submission", _index_column),
    "smaller_model": ("weaker", "modelling", _smaller_model),
    "fewer_rows": ("weaker", "data", _fewer_rows),
    "fewer_features": ("weaker", "data", _fewer_features),
    "bigger_model": ("slower", "modelling", _bigger_model),
    "extra_work": ("slower", "training", _extra_work),
}


def reference_programs(task: str | TaskSpec) -> dict[str, str]:
    """The task's reference programs by name (``fast``, ``strong``), from solutions/*.py."""
    spec = task if isinstance(task, TaskSpec) else load_task(task)
    folder = Path(spec.folder) / "solutions"
    programs = {p.stem: p.read_text() for p in sorted(folder.glob("*.py"))}
    if not programs:
        raise FileNotFoundError(f"{spec.slug} has no reference programs in {folder}")
    return programs


def mutate(program: str, task: str | TaskSpec, mutation: str, seed: int | str = 0,
           base: str = "program") -> Alternative | None:
    """One edit of ``program``; None when it does not apply (e.g. nothing is fitted) or the
    program does not parse. The result always parses and differs from ``program``."""
    if mutation not in MUTATIONS:
        raise ValueError(f"unknown mutation {mutation!r}; known: {', '.join(MUTATIONS)}")
    spec = task if isinstance(task, TaskSpec) else load_task(task)
    try:
        src = _Source(program)
    except SyntaxError:
        return None
    kind, stage, edit = MUTATIONS[mutation]
    made = edit(src, spec, random.Random(f"{spec.slug}:{mutation}:{seed}"))
    if made is None:
        return None
    new, description = made
    if new == program:
        return None
    ast.parse(new)  # a bad edit is our bug: fail loudly rather than hand out a broken label
    return Alternative(kind, stage, mutation, base, new, description)


def alternatives(
    task: str | TaskSpec,
    k: int,
    seed: int = 0,
    programs: Mapping[str, str] | None = None,
    kinds: tuple[str, ...] = KINDS,
    exclude: tuple[str, ...] = (),
) -> list[Alternative]:
    """``k`` distinct alternatives, deterministic given ``seed``.

    Made from ``programs`` (name -> text; default the task's reference programs). Stages are
    covered in turn: each round visits every applicable mutation once in a seeded order
    (bugs and weaker or slower models alternating);
    the reference programs themselves are offered as ``reference`` alternatives of each
    other (the fast one beside the strong one). Programs equal to one in ``exclude`` (the
    expert's, say) or to an earlier alternative are skipped; fewer than ``k`` come back only
    when no more distinct edits exist.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, not {k}")
    spec = task if isinstance(task, TaskSpec) else load_task(task)
    bases = dict(programs) if programs is not None else reference_programs(spec)
    rng = random.Random(f"{spec.slug}:{seed}")
    seen = set(exclude)
    out: list[Alternative] = []

    def keep(alt: Alternative | None) -> None:
        if alt is not None and alt.kind in kinds and alt.program not in seen and len(out) < k:
            seen.add(alt.program)
            out.append(alt)

    if "reference" in kinds and len(bases) > 1:
        for name in sorted(bases):
            keep(Alternative("reference", "modelling", "reference", name, bases[name],
                             f"the task's {name} reference program as it is"))
    names = [m for m, (kind, _, _) in MUTATIONS.items() if kind in kinds]
    for round_ in range(8):  # later rounds draw other variants of each edit
        if len(out) >= k:
            break
        before = len(out)
        # Bugs and modelling choices take turns, so a small k holds both.
        bugs = [m for m in names if MUTATIONS[m][0] == "bug"]
        others = [m for m in names if MUTATIONS[m][0] != "bug"]
        rng.shuffle(bugs)
        rng.shuffle(others)
        order = [m for pair in zip_longest(bugs, others) for m in pair if m is not None]
        for mutation in order:
            base = rng.choice(sorted(bases))
            keep(mutate(bases[base], spec, mutation, seed=f"{seed}:{round_}", base=base))
        if len(out) == before and round_ >= 2:
            break
    return out


__all__ = ["KINDS", "MUTATIONS", "NOT_INSTALLED", "STAGES", "Alternative", "alternatives",
           "mutate", "reference_programs"]
