"""The default instrumenter: standard-library ``ast`` heuristics, no model in the loop.

How a program is rewritten
--------------------------
* A one-line prologue makes ``__mle_milestone__`` a no-op where the runner did not put its
  hook into the module's globals (the program run on its own, or re-run as ``__mp_main__``
  by a spawned worker). It goes after the module docstring and any ``from __future__``
  imports. In the sandbox the runner renames the placeholder ``__mle_milestone__`` to a
  random name per step (see :mod:`mle_gym.sandbox.runner`).
* Detected *calls* are wrapped, so the milestone fires once the call has returned, wherever
  the call sits (assignments, returns, arguments, lambdas, comprehensions, ``with`` items)::

      df = pd.read_csv(p)   ->   df = __mle_milestone__("data_loaded", pd.read_csv(p))

  ``await`` of a detected call is wrapped as a whole. Calls inside f-strings and annotations
  are left alone (rewriting them could change the string or the annotation).
* ``imports`` is a statement after the last top-level import (after a whole top-level
  ``try``/``if``/``with`` block that only imports and sets flags; inside a ``try``/``with``
  block or an ``if __name__ == "__main__":`` block that also runs code, right after its last
  import). A program with no top-level import never reaches it: it imported nothing.

The program text is edited in place rather than regenerated, so comments, formatting and,
almost always, line numbers stay those of the agent's program: the prologue and the
``imports`` hook join an existing line (``; ...``), and a statement after a block (a training
loop, a ``try`` of imports) goes on the blank or comment-only line that follows it, or joins
the next simple statement. Only when neither exists is a line added (tracebacks then point
one line further down). The rewrite of a program of ordinary size is checked: the edited
text must parse to the original tree plus hooks and nothing else. Should that ever fail, the
tree is rewritten with ``ast.unparse`` instead (comments lost, lines renumbered), and failing
that the program runs unchanged with no hooks rather than being rejected.

What counts as a milestone (function name = the called name or its last attribute)
---------------------------------------------------------------------------------
* data_loaded: ``read_csv``, ``read_json``, ``read_parquet``, ``read_table``, ``read_excel``,
  ``read_feather``, ``read_pickle`` (and a few other ``read_*`` readers), ``loadtxt``,
  ``genfromtxt``, ``load_dataset``, ``imread``; ``load`` only as ``np.load``/``numpy.load``/
  ``joblib.load``/``pickle.load``/``torch.load``; ``Image.open``; builtin ``open(path)`` for
  reading (no mode, or a constant mode without ``w``/``a``/``x``) when the path expression
  mentions the input: a string containing ``input``, ``.csv`` or ``.json``, or a name or
  attribute containing ``input`` or ``data`` (case-insensitive, anywhere inside the path
  expression, so ``os.path.join``, ``Path(...)`` and f-strings count);
  ``<path>.read_text()``/``read_bytes()`` under the same path rule.
* model_defined: a CamelCase constructor whose name contains Classifier, Regressor,
  Regression, Classification, Pipeline, SVC, SVR, NB, Boost, Forest, Trees, KNeighbors, Model,
  Net, Booster, LGBM, XGB, Ridge, Lasso, ElasticNet, SGD, MLP, Perceptron, Sequential, CNN,
  RNN, LSTM or GRU, unless it also names a transformer, callback, checkpoint, config, dataset,
  loader, optimizer or scheduler (``SelectFromModel``, ``ModelCheckpoint``, ``optim.SGD``);
  ``make_pipeline`` and the ``*SearchCV`` searches; ``X.from_pretrained(...)`` when ``X``
  passes the same name rule (``AutoModelFor...``, not ``AutoTokenizer``); and any class the
  program defines on top of a model base (``nn.Module``, ``LightningModule``, ``keras.Model``,
  ``BaseEstimator`` with a classifier/regressor mixin, ...).
* model_trained: method calls ``.fit``, ``.partial_fit``, ``.fit_predict``,
  ``.fit_generator`` and ``.train(...)``; ``cross_val_score``, ``cross_validate``,
  ``cross_val_predict``; ``lgb.cv``/``xgb.cv``; ``fasttext.train_supervised``; bare
  ``fit(...)``/``train(...)`` calls with arguments (the program's own training functions).
  Never ``.fit_transform``, and not when the receiver is an obvious transformer: its text
  (call arguments dropped) contains vectoriz, scaler, encoder, tokenizer, imputer, pca, svd,
  transformer, tfidf, count_vec, selector, binarizer, normalizer, poly, preprocess,
  discretiz or hasher, or it is a variable the program assigned from such a constructor
  (``le = LabelEncoder(); le.fit(y)``). ``.train()`` with no arguments (or only a bool /
  ``mode=``) is PyTorch's mode switch and counts only on a receiver named like ``*trainer*``
  (Hugging Face ``Trainer.train()``). A ``for``/``while`` loop whose body calls
  ``.backward(...)`` is a PyTorch-style training loop: ``model_trained`` fires after the
  outermost such loop of its function finishes.
* predictions_made: ``.predict``, ``.predict_proba``, ``.predict_log_proba``,
  ``.decision_function`` and bare ``predict(...)``/``predict_proba(...)``. ``.transform`` is
  not a prediction, and a forward call ``model(X)`` is not detected.
* imports: see above. ``submission_written`` is never emitted: the host checks the file.

Forgery: a program that mentions ``__mle_milestone__`` anywhere (after Unicode NFKC
normalisation, the way Python reads identifiers) is rejected. Printing milestone names earns
nothing because the runner reads milestones from a private pipe, with a per-step secret, and
its hook records a milestone only when called from a call site the instrumenter inserted
(see :mod:`mle_gym.sandbox.runner`); :mod:`mle_gym.instrument.tamper` flags programs that
introspect frames, closures or code objects to get around that.
"""

from __future__ import annotations

import ast
import functools
import logging
import re
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from mle_gym.instrument import InstrumentationError, InstrumentedProgram
from mle_gym.instrument.milestones import HOOK, in_order
from mle_gym.instrument.threadsafe import AST_LOCK

log = logging.getLogger(__name__)

PROLOGUE = f'globals().setdefault("{HOOK}", lambda name, value=None: value)'

# ----------------------------------------------------------------------------- heuristics

READERS = frozenset(
    {
        "read_csv",
        "read_json",
        "read_parquet",
        "read_table",
        "read_excel",
        "read_feather",
        "read_pickle",
        "read_fwf",
        "read_hdf",
        "read_orc",
        "loadtxt",
        "genfromtxt",
        "load_dataset",
        "imread",
    }
)
LOAD_MODULES = frozenset({"np", "numpy", "joblib", "pickle", "torch"})
IMAGE_MODULES = frozenset({"Image", "PIL.Image"})
PATH_STRING_WORDS = ("input", ".csv", ".json")
PATH_NAME_WORDS = ("input", "data")

MODEL_WORDS = (
    "Classifier",
    "Regressor",
    "Regression",
    "Classification",
    "Pipeline",
    "SVC",
    "SVR",
    "NB",
    "Boost",
    "Forest",
    "Trees",
    "KNeighbors",
    "Model",
    "Net",
    "Booster",
    "LGBM",
    "XGB",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "SGD",
    "MLP",
    "Perceptron",
    "Sequential",
    "CNN",
    "RNN",
    "LSTM",
    "GRU",
)
MODEL_FUNCTIONS = frozenset(
    {
        "make_pipeline",
        "GridSearchCV",
        "RandomizedSearchCV",
        "HalvingGridSearchCV",
        "HalvingRandomSearchCV",
        "BayesSearchCV",
    }
)
# Receivers whose .fit is preprocessing, not training (matched lower-case, as substrings).
TRANSFORMER_WORDS = (
    "vectoriz",
    "scaler",
    "encoder",
    "tokenizer",
    "imputer",
    "pca",
    "svd",
    "transformer",
    "tfidf",
    "count_vec",
    "selector",
    "binarizer",
    "normalizer",
    "poly",
    "preprocess",
    "discretiz",
    "hasher",
)
# Constructors whose instances are transformers (SelectKBest, VarianceThreshold aside).
TRANSFORMER_CTOR_WORDS = (*TRANSFORMER_WORDS, "select")
# Constructor names that look like a model but are not one.
NOT_MODEL_WORDS = (
    *TRANSFORMER_CTOR_WORDS,
    "checkpoint",
    "callback",
    "config",
    "dataset",
    "loader",
    "optimizer",
    "scheduler",
)
MODEL_BASE_SUFFIXES = ("Module",)  # nn.Module, pl.LightningModule
FIT_METHODS = frozenset({"fit", "partial_fit", "fit_predict", "fit_generator"})
CV_FUNCTIONS = frozenset({"cross_val_score", "cross_validate", "cross_val_predict"})
BOOSTING_MODULES = frozenset({"lgb", "lightgbm", "xgb", "xgboost"})
PREDICT_METHODS = frozenset({"predict", "predict_proba", "predict_log_proba", "decision_function"})
BARE_PREDICT = frozenset({"predict", "predict_proba"})
BARE_TRAIN = frozenset({"fit", "train"})

# Every name the rules above can match: a line without any of them holds no detected call.
TRIGGER_WORDS = frozenset(
    {
        *READERS,
        *MODEL_WORDS,
        *MODEL_FUNCTIONS,
        *FIT_METHODS,
        *CV_FUNCTIONS,
        *PREDICT_METHODS,
        "load",
        "open",
        "read_",
        "train",
        "cv",
        "backward",
        "from_pretrained",
    }
)

# Flag-setting statements allowed in a block that still counts as "only imports".
QUIET_CALL_PREFIXES = ("warnings.", "sys.path.", "os.environ.", "logging.", "os.putenv")

_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _head_text(node: ast.AST) -> str:
    """The receiver as text with call arguments dropped: ``make_pipeline(...).x`` ->
    ``make_pipeline().x``, so the models inside a pipeline do not decide what it is."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append("." + node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Subscript):
            key = node.slice
            parts.append(f"[{key.value!r}]" if isinstance(key, ast.Constant) else "[]")
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            break
        else:
            break
    return "".join(reversed(parts))


def _callee(call: ast.Call) -> tuple[str | None, ast.expr | None]:
    """(called name, receiver) for ``name(...)`` and ``receiver.name(...)``."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id, None
    if isinstance(func, ast.Attribute):
        return func.attr, func.value
    return None, None


@functools.lru_cache(maxsize=4096)
def _looks_like_model(name: str) -> bool:
    if name in MODEL_FUNCTIONS:
        return True
    if not name[:1].isupper() or not any(word in name for word in MODEL_WORDS):
        return False
    lowered = name.lower()
    return not any(word in lowered for word in NOT_MODEL_WORDS)


@functools.lru_cache(maxsize=4096)
def _looks_like_transformer(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in TRANSFORMER_CTOR_WORDS)


def _mentions_input(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            text = sub.value.lower()
            if any(word in text for word in PATH_STRING_WORDS):
                return True
        elif isinstance(sub, ast.Name | ast.Attribute):
            text = (sub.id if isinstance(sub, ast.Name) else sub.attr).lower()
            if any(word in text for word in PATH_NAME_WORDS):
                return True
    return False


def _reads_input(call: ast.Call) -> bool:
    """Builtin ``open(path[, mode])`` reading a path that mentions the input."""
    path = call.args[0] if call.args else None
    mode: ast.expr | None = call.args[1] if len(call.args) > 1 else None
    for kw in call.keywords:
        if kw.arg == "file":
            path = kw.value
        elif kw.arg == "mode":
            mode = kw.value
    if path is None:
        return False
    if mode is not None:
        if not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)):
            return False  # a mode computed at run time: do not guess
        if any(flag in mode.value for flag in "wax"):
            return False
    return _mentions_input(path)


def _is_mode_switch(call: ast.Call) -> bool:
    """PyTorch's ``model.train()``, ``model.train(False)``, ``model.train(mode=...)``."""
    if not call.args and not call.keywords:
        return True
    if len(call.args) == 1 and not call.keywords:
        arg = call.args[0]
        return isinstance(arg, ast.Constant) and isinstance(arg.value, bool)
    return not call.args and [kw.arg for kw in call.keywords] == ["mode"]


@dataclass
class _Names:
    """What the program's own assignments and classes say about names."""

    transformers: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    model_classes: set[str] = field(default_factory=set)
    transformer_classes: set[str] = field(default_factory=set)


def _all_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included (cheaper than walking every expression)."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        stack.extend(reversed(list(_child_statements(stmt))))


def _collect_names(tree: ast.Module) -> _Names:
    names = _Names()
    assigns: list[tuple[list[ast.expr], ast.Call]] = []
    for node in _all_statements(tree.body):
        if isinstance(node, ast.ClassDef):
            last = [(_dotted(b) or "").rsplit(".", 1)[-1] for b in node.bases]
            if any("Transformer" in b for b in last):
                names.transformer_classes.add(node.name)
            elif any(b.endswith(MODEL_BASE_SUFFIXES) or _looks_like_model(b) for b in last):
                names.model_classes.add(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            assigns.append((node.targets, node.value))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Call):
            assigns.append(([node.target], node.value))
    # Classes first: an assignment may come before the class it instantiates.
    for targets, call in assigns:
        ctor, _ = _callee(call)
        if ctor is None:
            continue
        dotted = [d for d in map(_dotted, targets) if d]
        if ctor in names.transformer_classes or _looks_like_transformer(ctor):
            names.transformers.update(dotted)
        elif ctor in names.model_classes or _looks_like_model(ctor):
            names.models.update(dotted)
    # A name bound to both kinds somewhere is treated as a model.
    names.transformers -= names.models
    return names


def classify(call: ast.Call, names: _Names | None = None) -> str | None:
    """The milestone a completed call reaches, or None."""
    names = names or _Names()
    name, receiver = _callee(call)
    if name is None:
        return None
    module = _dotted(receiver) if receiver is not None else None

    # data_loaded
    if name in READERS:
        return "data_loaded"
    if name == "load" and module in LOAD_MODULES:
        return "data_loaded"
    if name == "open":
        if module is not None and (module in IMAGE_MODULES or module.endswith(".Image")):
            return "data_loaded"
        if receiver is None and _reads_input(call):
            return "data_loaded"
        return None
    if name in ("read_text", "read_bytes") and receiver is not None:
        return "data_loaded" if _mentions_input(receiver) else None

    # model_trained
    if name in CV_FUNCTIONS or name == "train_supervised":
        return "model_trained"
    if name == "cv" and module in BOOSTING_MODULES:
        return "model_trained"
    if receiver is None and name in BARE_TRAIN:
        return "model_trained" if (call.args or call.keywords) else None
    if name in FIT_METHODS or name == "train":
        head = _head_text(receiver).lower() if receiver is not None else ""
        if name == "train" and _is_mode_switch(call) and "trainer" not in head:
            return None
        if any(word in head for word in TRANSFORMER_WORDS):
            return None
        if module is not None and module in names.transformers:
            return None
        return "model_trained"

    # predictions_made
    if name in PREDICT_METHODS and receiver is not None:
        return "predictions_made"
    if name in BARE_PREDICT and receiver is None:
        return "predictions_made"

    # model_defined
    if name == "from_pretrained" and module is not None:
        return "model_defined" if _looks_like_model(module.rsplit(".", 1)[-1]) else None
    if module is not None and "optim" in module:
        return None  # torch.optim.SGD is an optimizer
    if name in names.model_classes or _looks_like_model(name):
        return "model_defined"
    return None


# ----------------------------------------------------------------------------- the plan


def _is_import(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Import):
        return True
    return isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__"


_DEFS: tuple[type[ast.stmt], ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BLOCKS: tuple[type[ast.stmt], ...] = (
    ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match,
    *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),
)  # fmt: skip


def _is_compound(stmt: ast.stmt) -> bool:
    """A block statement other than def/class (those run no nested code when executed)."""
    return isinstance(stmt, _BLOCKS)


def _is_simple(stmt: ast.stmt) -> bool:
    """A statement that can share its line with others through ``;``."""
    return not isinstance(stmt, _BLOCKS + _DEFS)


_BODY_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _child_statements(stmt: ast.AST) -> Iterator[ast.stmt]:
    """Statements directly nested in a statement (all its clauses)."""
    for name in _BODY_FIELDS:
        for item in getattr(stmt, name, ()):
            if isinstance(item, ast.stmt):
                yield item
            else:  # an except clause or a match case
                yield from item.body


def _quiet(stmt: ast.stmt) -> bool:
    """A statement that may sit in an "only imports" block: an import, a flag, a setting."""
    if _is_import(stmt) or isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        value = stmt.value
        return value is None or not any(isinstance(n, ast.Call) for n in ast.walk(value))
    if isinstance(stmt, ast.Expr):
        if isinstance(stmt.value, ast.Constant):
            return True
        if isinstance(stmt.value, ast.Call):
            func = _dotted(stmt.value.func) or ""
            return func.startswith(QUIET_CALL_PREFIXES)
        return False
    if _is_compound(stmt):
        return all(_quiet(s) for s in _child_statements(stmt))
    return False


def _has_import(stmt: ast.stmt) -> bool:
    if _is_import(stmt):
        return True
    return _is_compound(stmt) and any(_has_import(s) for s in _child_statements(stmt))


def _is_main_guard(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    sides = [test.left, *test.comparators]
    return (
        len(sides) == 2
        and isinstance(test.ops[0], ast.Eq)
        and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
        and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    )


_TRY_WITH = tuple(t for t in _BLOCKS if t.__name__ in ("Try", "TryStar", "With"))


def _imports_anchor(body: list[ast.stmt]) -> tuple[list[ast.stmt], int] | None:
    """Where the ``imports`` hook goes: after statement ``body[i]`` of the returned body."""
    anchor = None
    for i, stmt in enumerate(body):
        if _is_import(stmt) or (_is_compound(stmt) and _has_import(stmt) and _quiet(stmt)):
            anchor = (body, i)
        elif isinstance(stmt, _TRY_WITH) or _is_main_guard(stmt):
            # A block that imports and then runs the program: the hook goes inside it.
            anchor = _imports_anchor(stmt.body) or anchor  # type: ignore[attr-defined]
    return anchor


@dataclass
class _Plan:
    wraps: list[tuple[ast.expr, str]] = field(default_factory=list)
    # (body, i, milestone): a hook statement after body[i].
    after: list[tuple[list[ast.stmt], int, str]] = field(default_factory=list)
    prologue_at: int = 0  # module body index the prologue goes before

    def milestones(self) -> tuple[str, ...]:
        found = {m for _, m in self.wraps} | {m for _, _, m in self.after}
        return in_order(found)


_SKIP_FIELDS = frozenset({"annotation", "returns", "type_comment", "ctx"})
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


class _Planner:
    """One recursive pass: which calls to wrap, and after which loops to add a hook.

    Statements whose lines mention none of the names the rules look for are skipped
    whole, which keeps long programs cheap (most of their statements are skipped)."""

    def __init__(self, tree: ast.Module, lines: list[str]) -> None:
        self.names = _collect_names(tree)
        words = sorted(TRIGGER_WORDS | self.names.model_classes, key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, words)))
        # hot[n] = number of lines among the first n that may hold a detected call; a
        # non-ASCII line always counts (identifiers are NFKC-normalised by the parser).
        self.hot = [0]
        for line in lines:
            flag = not line.isascii() or pattern.search(line) is not None
            self.hot.append(self.hot[-1] + flag)
        self.plan = _Plan()

    def is_hot(self, stmt: ast.stmt) -> bool:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        last = min(stmt.end_lineno or stmt.lineno, len(self.hot) - 1)
        return self.hot[last] > self.hot[first - 1]

    def visit_stmt(self, node: ast.AST) -> bool:
        """Visit a statement (or an except/case clause); True when it calls ``.backward``
        outside nested functions and classes. Statements nest only ~100 deep, so recursion
        is safe here; expressions, which can nest far deeper, are walked without it."""
        backward = False
        for name, value in ast.iter_fields(node):
            if name in _SKIP_FIELDS:
                continue
            items = value if isinstance(value, list) else [value]
            if items and isinstance(items[0], ast.stmt):
                backward |= self.visit_body(items)
                continue
            for item in items:
                if isinstance(item, ast.excepthandler | ast.match_case):
                    backward |= self.visit_stmt(item)
                elif isinstance(item, ast.AST):
                    backward |= self.visit_expr(item)
        return backward and not isinstance(node, _DEFS)

    def visit_expr(self, root: ast.AST) -> bool:
        backward = False
        claimed: set[int] = set()  # calls wrapped through their ``await``
        stack: list[tuple[ast.AST, bool]] = [(root, False)]
        while stack:
            node, in_lambda = stack.pop()
            if isinstance(node, ast.JoinedStr):
                continue  # rewriting inside an f-string could clash with its quotes
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "backward" and not in_lambda:
                    backward = True
                milestone = None if id(node) in claimed else classify(node, self.names)
                if milestone:
                    self.plan.wraps.append((node, milestone))
            elif isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
                # Fire when the awaited call has finished, not when its coroutine exists.
                milestone = classify(node.value, self.names)
                if milestone:
                    self.plan.wraps.append((node, milestone))
                    claimed.add(id(node.value))
            in_lambda = in_lambda or isinstance(node, ast.Lambda)
            for name in node._fields:
                if name in _SKIP_FIELDS:
                    continue
                value = getattr(node, name, None)
                if isinstance(value, list):
                    stack.extend((item, in_lambda) for item in value if isinstance(item, ast.AST))
                elif isinstance(value, ast.AST):
                    stack.append((value, in_lambda))
        return backward

    def visit_body(self, body: list[ast.stmt]) -> bool:
        backward = False
        for i, stmt in enumerate(body):
            if not self.is_hot(stmt):
                continue
            marks = len(self.plan.after)
            inner = self.visit_stmt(stmt)
            if inner and isinstance(stmt, _LOOPS):
                # Only the outermost training loop of a function gets the hook.
                del self.plan.after[marks:]
                self.plan.after.append((body, i, "model_trained"))
            backward |= inner
        return backward


def _plan(tree: ast.Module, lines: list[str]) -> _Plan:
    planner = _Planner(tree, lines)
    planner.visit_body(tree.body)
    plan = planner.plan
    body = tree.body
    k = 0
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        k = int(isinstance(first.value.value, str))  # the module docstring stays first
    while k < len(body) and isinstance(body[k], ast.ImportFrom) and body[k].module == "__future__":
        k += 1
    plan.prologue_at = k
    anchor = _imports_anchor(body)
    if anchor is not None:
        plan.after.append((anchor[0], anchor[1], "imports"))
    return plan


# ----------------------------------------------------------------------------- text edits


def _hook(milestone: str) -> str:
    return f'{HOOK}("{milestone}")'


class _Editor:
    """Insertions into the program text at AST positions, applied in one pass."""

    # Order of insertions at one offset: closing parentheses, then statement suffixes,
    # whole lines, statement prefixes, and opening wrappers (outermost first).
    CLOSE, SUFFIX, LINE, PREFIX, OPEN = range(5)

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts: list[int] = []
        pos = 0
        for line in self.lines:
            self.starts.append(pos)
            pos += len(line) + 1
        self.edits: list[tuple[int, int, int, int, str]] = []
        self.used_lines: set[int] = set()

    def offset(self, lineno: int, col: int) -> int:
        """Character offset of an AST position (``col`` counts UTF-8 bytes)."""
        line = self.lines[lineno - 1]
        if col and not line.isascii():
            col = len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))
        return self.starts[lineno - 1] + col

    def insert(self, offset: int, rank: int, text: str, order: int = 0) -> None:
        # Ties keep the order of the calls (whole lines: inner blocks' hooks first).
        self.edits.append((offset, rank, order, len(self.edits), text))

    def wrap(self, node: ast.expr, milestone: str) -> None:
        start = self.offset(node.lineno, node.col_offset)
        end = self.offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
        self.insert(start, self.OPEN, f'{HOOK}("{milestone}", ', -end)
        self.insert(end, self.CLOSE, ")")

    def _is_free(self, lineno: int) -> bool:
        """A blank or comment-only line not yet used (outside any statement when it
        directly follows a statement's last line or precedes the first statement)."""
        stripped = self.lines[lineno - 1].strip(" \t\f")
        return lineno not in self.used_lines and (not stripped or stripped.startswith("#"))

    def _continued(self, lineno: int) -> bool:
        line = self.lines[lineno - 1]
        return line.rstrip(" \t\f").endswith("\\") and "#" not in line

    def use_line(self, lineno: int, code: str) -> None:
        """Put ``code`` on a blank or comment-only line, keeping the comment."""
        self.used_lines.add(lineno)
        rest = self.lines[lineno - 1].strip(" \t\f")
        self.insert(self.starts[lineno - 1], self.LINE, code + ("  " if rest else ""))

    def add_line(self, lineno: int, code: str) -> None:
        """A new line before line ``lineno`` (or at the end): later lines move down."""
        if lineno > len(self.lines):
            # The last line has no newline of its own, or already holds a hook.
            ended = self.text.endswith("\n") and len(self.lines) not in self.used_lines
            self.insert(len(self.text), self.LINE, ("" if ended else "\n") + code + "\n")
        else:
            self.insert(self.starts[lineno - 1], self.LINE, code + "\n")

    def after(self, body: list[ast.stmt], i: int, code: str) -> None:
        """A statement right after ``body[i]``, at the same indentation."""
        stmt = body[i]
        end_line = stmt.end_lineno or stmt.lineno
        if _is_simple(stmt):
            self.insert(self.offset(end_line, stmt.end_col_offset or 0), self.SUFFIX, "; " + code)
            return
        nxt = body[i + 1] if i + 1 < len(body) else None
        if nxt is not None and _is_simple(nxt):
            self.insert(self.offset(nxt.lineno, nxt.col_offset), self.PREFIX, code + "; ")
            return
        # A block statement starts its own line, so what precedes it is its indentation.
        indent = self.lines[stmt.lineno - 1][: stmt.col_offset]
        lineno = end_line + 1
        while lineno <= len(self.lines) and self._continued(lineno - 1):
            lineno += 1  # a backslash carries the statement on: not a line of its own
        while lineno in self.used_lines:  # hooks after nested blocks come first
            lineno += 1
        # The first blank or comment-only line after the block, else a new line there.
        if lineno <= len(self.lines) and self._is_free(lineno):
            self.use_line(lineno, indent + code)
        else:
            self.add_line(lineno, indent + code)

    def before_first(self, body: list[ast.stmt], k: int, code: str) -> None:
        """The prologue: after the docstring and ``__future__`` imports, else before body[0]."""
        if k > 0:
            prev = body[k - 1]
            end = self.offset(prev.end_lineno or prev.lineno, prev.end_col_offset or 0)
            self.insert(end, self.SUFFIX, "; " + code)
            return
        if not body:
            self.add_line(len(self.lines) + 1, code)
            return
        first = body[0]
        if _is_simple(first):
            self.insert(self.offset(first.lineno, first.col_offset), self.PREFIX, code + "; ")
            return
        top = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
        for lineno in range(1, top):
            line = self.lines[lineno - 1]
            if lineno == 1 and line.startswith("#!"):
                continue
            if lineno <= 2 and _CODING.match(line):
                continue
            if self._is_free(lineno):
                self.use_line(lineno, code)
                return
        self.insert(0, self.LINE, code + "\n")

    def result(self) -> str:
        pieces: list[str] = []
        pos = 0
        for offset, _rank, _order, _seq, text in sorted(self.edits):
            pieces.append(self.text[pos:offset])
            pieces.append(text)
            pos = offset
        pieces.append(self.text[pos:])
        return "".join(pieces)


def _last_line_then_depth(entry: tuple[list[ast.stmt], int, str]) -> tuple[int, int]:
    stmt = entry[0][entry[1]]
    return stmt.end_lineno or stmt.lineno, -stmt.col_offset


def _splice(text: str, tree: ast.Module, plan: _Plan) -> str:
    editor = _Editor(text)
    for node, milestone in plan.wraps:
        editor.wrap(node, milestone)
    # Blocks ending on the same line: the innermost hook must come first.
    for body, i, milestone in sorted(plan.after, key=_last_line_then_depth):
        editor.after(body, i, _hook(milestone))
    editor.before_first(tree.body, plan.prologue_at, PROLOGUE)
    return editor.result()


# ----------------------------------------------------------------------------- fallback


def _hook_call(milestone: str, value: ast.expr | None = None) -> ast.Call:
    args: list[ast.expr] = [ast.Constant(milestone)]
    if value is not None:
        args.append(value)
    return ast.Call(func=ast.Name(HOOK, ast.Load()), args=args, keywords=[])


class _Wrapper(ast.NodeTransformer):
    def __init__(self, wraps: dict[int, str]) -> None:
        self.wraps = wraps

    def visit(self, node: ast.AST) -> ast.AST:
        node = self.generic_visit(node)
        milestone = self.wraps.get(id(node))
        if milestone is not None:
            return ast.copy_location(_hook_call(milestone, node), node)  # type: ignore[arg-type]
        return node


def _regenerate(tree: ast.Module, plan: _Plan) -> str:
    """The same plan applied to the tree, printed by ``ast.unparse``: comments are lost and
    lines renumbered, so tracebacks point at the printed program."""
    _Wrapper({id(node): m for node, m in plan.wraps}).visit(tree)
    # Later positions first, so earlier indexes stay valid.
    for body, i, milestone in sorted(plan.after, key=lambda a: -a[1]):
        body.insert(i + 1, ast.Expr(_hook_call(milestone)))
    tree.body[plan.prologue_at : plan.prologue_at] = ast.parse(PROLOGUE).body
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


# ----------------------------------------------------------------------------- checks


class _Unhook(ast.NodeTransformer):
    """Removes what the instrumenter added, to compare with the original tree."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == HOOK and len(node.args) == 2:
            return node.args[1]
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        value = node.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == HOOK
            and len(value.args) == 1
        ):
            return None
        self.generic_visit(node)
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = [s for s in node.body if ast.dump(s) != _PROLOGUE_DUMP]
        self.generic_visit(node)
        return node


_PROLOGUE_DUMP = ast.dump(ast.parse(PROLOGUE).body[0])


def _dump(tree: ast.AST) -> str | None:
    try:
        return ast.dump(tree)
    except RecursionError:
        return None  # too deep to compare; the check is skipped


def _same_program(source: str, original_dump: str) -> bool | None:
    """Whether ``source`` is the original program plus hooks and nothing else; None when
    the trees are too deep to tell."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError, MemoryError):
        return False
    except RecursionError:
        return None
    try:
        return ast.dump(_Unhook().visit(tree)) == original_dump
    except RecursionError:
        return None


def _parse(text: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning/DeprecationWarning for bad escapes
        return ast.parse(text)


def _compile(tree: ast.Module) -> None:
    """Errors Python reports only when compiling (``return`` outside a function, ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compile(tree, "<program>", "exec", dont_inherit=True)


def _describe(exc: SyntaxError) -> str:
    kind = type(exc).__name__
    where = f" at line {exc.lineno}" if exc.lineno else ""
    return f"{kind}{where}: {exc.msg}"


def _normalise(code: str) -> str:
    """The text Python would see: no BOM, ``\\n`` newlines, a utf-8 coding cookie (the
    sandbox writes the program as UTF-8)."""
    if code.startswith("\ufeff"):
        code = code[1:]
    if "\r" in code:
        code = code.replace("\r\n", "\n").replace("\r", "\n")
    head = code.split("\n", 2)
    for i in range(min(2, len(head))):
        match = _CODING.match(head[i])
        if match:
            start, end = match.span(1)
            head[i] = head[i][:start] + "utf-8" + head[i][end:]
            code = "\n".join(head)
            break
        if head[i].strip(" \t\f") and not head[i].lstrip(" \t\f").startswith("#"):
            break  # the cookie counts only before any code
    return code


# ----------------------------------------------------------------------------- the API


class StaticInstrumenter:
    """Inserts milestone hooks found by static heuristics (see the module docstring).

    ``check`` also compiles the program (so that errors Python reports only when compiling,
    such as ``return`` outside a function, are caught before anything runs) and checks the
    rewrite against the original tree. ``None`` (the default) checks programs shorter than
    ``CHECK_BELOW_CHARS``, which covers agents' programs at a few milliseconds; the check
    costs about two more parses, which would break the budget for very long programs.
    """

    name = "static"
    CHECK_BELOW_CHARS = 20_000

    def __init__(self, check: bool | None = None) -> None:
        self.check = check

    def instrument(self, code: str) -> InstrumentedProgram:
        with AST_LOCK:
            return self._instrument(code)

    def _instrument(self, code: str) -> InstrumentedProgram:
        if not isinstance(code, str):
            raise InstrumentationError(f"the program must be text, not {type(code).__name__}")
        if not code.strip():
            raise InstrumentationError("empty program")
        if HOOK in code or HOOK in unicodedata.normalize("NFKC", code):
            raise InstrumentationError(f"program uses the reserved name {HOOK}")
        text = _normalise(code)
        if "\x00" in text:  # Python refuses these (a ValueError or a SyntaxError, by version)
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise InstrumentationError(f"the program contains a null byte (line {line})")
        check = self.check if self.check is not None else len(text) < self.CHECK_BELOW_CHARS
        try:
            tree = _parse(text)
            if check:
                _compile(tree)
        except SyntaxError as exc:
            raise InstrumentationError(_describe(exc)) from None
        except ValueError as exc:  # UnicodeEncodeError for lone surrogates
            raise InstrumentationError(_value_problem(exc)) from None
        except (RecursionError, MemoryError):
            raise InstrumentationError("the program is nested too deeply to parse") from None
        if not tree.body:
            raise InstrumentationError("empty program")
        original_dump = _dump(tree) if check else None
        try:
            plan = _plan(tree, text.split("\n"))
            source = _splice(text, tree, plan)
        except Exception:  # a bug here must not cost the agent its program
            log.exception("static instrumenter: editing the program text failed")
        else:
            if original_dump is None or _same_program(source, original_dump) is not False:
                return InstrumentedProgram(source, code, plan.milestones())
            log.error("static instrumenter: the edited program differs; regenerating it")
        return _regenerated(code, text, original_dump)


def _regenerated(code: str, text: str, original_dump: str | None) -> InstrumentedProgram:
    """The fallback: the plan applied to the tree and printed, else the program unchanged."""
    try:
        fresh = _parse(text)
        plan = _plan(fresh, text.split("\n"))
        source = _regenerate(fresh, plan)
        if original_dump is None or _same_program(source, original_dump) is not False:
            return InstrumentedProgram(source, code, plan.milestones())
    except Exception:
        log.exception("static instrumenter: regenerating the program failed")
    return InstrumentedProgram(text, code, ())


def _value_problem(exc: ValueError) -> str:
    if isinstance(exc, UnicodeError):
        return "the program text is not valid Unicode (a lone surrogate?)"
    return f"the program could not be parsed: {exc}"
