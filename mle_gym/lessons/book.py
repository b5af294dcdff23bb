"""The lesson book: lessons, the episodes they came from and the attempts they were used on.

One SQLite file (the standard library's ``sqlite3``) in WAL mode, so several workers (the
leaderboard's episode threads, separate processes) read and write it at once; each change
is one ``BEGIN IMMEDIATE`` transaction, and a busy book is waited on, not failed.

A lesson has an id, a scope (``task:<slug>``, ``metric:<family>`` or ``all``), its text,
``helpful`` and ``harmful`` counters, how often it was shown (``uses``), when it was made
and last changed, the episodes it came from, where it came from (``rule:...``, ``model``,
``user``) and, for lessons about a failure, that failure's signature (what crediting
checks, see :mod:`mle_gym.lessons.curate`).

The layout has a version (table ``meta``); a book written by an older version is migrated
in place when opened, one written by a newer version is refused with what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mle_gym.spec import TaskSpec

SCHEMA_VERSION = 2
BOOK_KIND = "mle-gym-lesson-book"
GLOBAL = "all"

# Metric families: lessons about a metric's output scale carry over between its tasks.
METRIC_FAMILIES: dict[str, str] = {
    "log_loss": "probabilities",
    "roc_auc": "probabilities",
    "mean_column_roc_auc": "probabilities",
    "accuracy": "labels",
    "quadratic_weighted_kappa": "labels",
    "mean_column_rmsle": "regression",
    "pearson": "regression",
    "jaccard": "text",
}

# The first layout (version 1): lessons with counters and sources, nothing else.
LAYOUT_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE lessons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    text TEXT NOT NULL,
    helpful INTEGER NOT NULL DEFAULT 0,
    harmful INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    changed REAL NOT NULL,
    sources TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX lessons_scope ON lessons(scope);
"""

# Version 1 -> 2: usage counts, origin and failure signatures on lessons; the episodes
# table (crediting needs each task's earlier outcomes); attempts (distillation); a log.
_V1_TO_V2 = """
ALTER TABLE lessons ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lessons ADD COLUMN origin TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE lessons ADD COLUMN signature TEXT;
CREATE TABLE episodes (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    time REAL NOT NULL,
    best_reward REAL,
    valid INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    failures TEXT NOT NULL DEFAULT '[]',
    lessons TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX episodes_task ON episodes(task);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    episode TEXT NOT NULL,
    step INTEGER NOT NULL,
    task TEXT NOT NULL,
    time REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX attempts_episode ON attempts(episode);
CREATE TABLE log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

MIGRATIONS: dict[int, str] = {1: _V1_TO_V2}  # from version N to N + 1


class BookError(RuntimeError):
    """The file is not a lesson book this version can use; the message says why."""


def _script(conn: sqlite3.Connection, sql: str) -> None:
    """Run statements one by one inside the caller's transaction (executescript would not)."""
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


def metric_family(metric: str) -> str:
    return METRIC_FAMILIES.get(metric, metric)


def task_scopes(spec: TaskSpec) -> tuple[str, str, str]:
    """The scopes that apply to a task, most specific first."""
    return (f"task:{spec.slug}", f"metric:{metric_family(spec.metric)}", GLOBAL)


def check_scope(scope: str) -> str:
    kind, _, name = scope.partition(":")
    if scope == GLOBAL or (kind in ("task", "metric") and name):
        return scope
    raise ValueError(f"a lesson's scope is 'all', 'task:<slug>' or 'metric:<family>', not {scope!r}")


@dataclass
class Lesson:
    id: int
    scope: str
    text: str
    helpful: int = 0
    harmful: int = 0
    uses: int = 0
    created: float = 0.0
    changed: float = 0.0
    sources: list[str] = field(default_factory=list)
    origin: str = "unknown"
    signature: str | None = None

    @property
    def net(self) -> int:
        return self.helpful - self.harmful

    @property
    def confidence(self) -> float:
        """Share of credited outcomes that were helpful, with one of each assumed (Laplace):
        0.5 for a new lesson, rising with helpful credit."""
        return (self.helpful + 1) / (self.helpful + self.harmful + 2)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = "id, scope, text, helpful, harmful, uses, created, changed, sources, origin, signature"


def _lesson(row: Sequence[Any]) -> Lesson:
    return Lesson(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                  json.loads(row[8]), row[9], row[10])


class LessonBook:
    """A lesson book at ``path`` (created when missing). Cheap to open; safe to share
    between threads and processes (a connection per operation)."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        if self.path.is_dir():
            raise BookError(f"{self.path} is a folder; a lesson book is one file (e.g. lessons.db)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_or_create()

    def __repr__(self) -> str:
        return f"LessonBook({str(self.path)!r})"

    # -- connections and layout ------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise BookError(f"cannot open the lesson book {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if write:
                conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlock
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                yield conn
        finally:
            conn.close()

    def _open_or_create(self) -> None:
        try:
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
            with self._connect(write=True) as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not tables:  # a new book is the first layout, migrated like any old one
                    _script(conn, LAYOUT_V1)
                    conn.executemany("INSERT INTO meta VALUES (?, ?)",
                                     [("kind", BOOK_KIND), ("schema_version", "1"),
                                      ("created", repr(time.time()))])
                    tables = {"meta", "lessons"}
                if "meta" not in tables:
                    raise BookError(f"{self.path} is an SQLite file but not a lesson book "
                                    f"(it has tables {sorted(tables)}); give another path")
                meta = dict(conn.execute("SELECT key, value FROM meta"))
                if meta.get("kind") != BOOK_KIND:
                    raise BookError(f"{self.path} is not a lesson book (kind {meta.get('kind')!r})")
                version = int(meta.get("schema_version", "0"))
                if version > SCHEMA_VERSION:
                    raise BookError(
                        f"{self.path} was written by a newer mle-gym (book layout version "
                        f"{version}; this one reads up to {SCHEMA_VERSION}): upgrade mle-gym, or "
                        f"export it there with `mle-gym lessons export` and import the JSON here"
                    )
                if version < 1:
                    raise BookError(f"{self.path} has no readable layout version ({version})")
                while version < SCHEMA_VERSION:
                    _script(conn, MIGRATIONS[version])
                    version += 1
                    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                                 (str(version),))
        except sqlite3.DatabaseError as exc:
            raise BookError(f"{self.path} is not a lesson book this version can read: {exc}") from exc

    @property
    def schema_version(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    # -- lessons ------------------------------------------------------------------------------

    def add(self, scope: str, text: str, *, sources: Iterable[str] = (), origin: str = "user",
            signature: str | None = None, conn: sqlite3.Connection | None = None) -> Lesson:
        text = " ".join(text.split())
        if not text:
            raise ValueError("a lesson needs text")
        now = time.time()
        with self._maybe(conn) as c:
            cur = c.execute(
                "INSERT INTO lessons (scope, text, created, changed, sources, origin, signature) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (check_scope(scope), text, now, now, json.dumps(sorted(set(sources))), origin,
                 signature),
            )
            return self._get(c, int(cur.lastrowid or 0))

    def update(self, lesson_id: int, *, text: str | None = None, scope: str | None = None,
               sources: Iterable[str] = (), conn: sqlite3.Connection | None = None) -> Lesson:
        with self._maybe(conn) as c:
            old = self._get(c, lesson_id)
            new_text = " ".join(text.split()) if text is not None else old.text
            if not new_text:
                raise ValueError("a lesson needs text")
            c.execute(
                "UPDATE lessons SET text = ?, scope = ?, sources = ?, changed = ? WHERE id = ?",
                (new_text, check_scope(scope or old.scope),
                 json.dumps(sorted(set(old.sources) | set(sources))), time.time(), lesson_id),
            )
            return self._get(c, lesson_id)

    def merge(self, ids: Sequence[int], text: str | None = None, *,
              conn: sqlite3.Connection | None = None) -> Lesson:
        """One lesson from several: the first id is kept (its scope and signature), with the
        counters summed, the sources joined, and ``text`` (else the kept lesson's text)."""
        if len(set(ids)) < 2:
            raise ValueError("merge needs at least two different lesson ids")
        with self._maybe(conn) as c:
            lessons = [self._get(c, i) for i in dict.fromkeys(ids)]
            keep, rest = lessons[0], lessons[1:]
            sources = set(keep.sources).union(*(x.sources for x in rest))
            c.execute(
                "UPDATE lessons SET text = ?, helpful = ?, harmful = ?, uses = ?, sources = ?, "
                "changed = ?, created = ? WHERE id = ?",
                (" ".join((text or keep.text).split()), sum(x.helpful for x in lessons),
                 sum(x.harmful for x in lessons), sum(x.uses for x in lessons),
                 json.dumps(sorted(sources)), time.time(), min(x.created for x in lessons),
                 keep.id),
            )
            c.executemany("DELETE FROM lessons WHERE id = ?", [(x.id,) for x in rest])
            return self._get(c, keep.id)

    def remove(self, lesson_id: int, conn: sqlite3.Connection | None = None) -> None:
        with self._maybe(conn) as c:
            self._get(c, lesson_id)
            c.execute("DELETE FROM lessons WHERE id = ?", (lesson_id,))

    def get(self, lesson_id: int) -> Lesson:
        with self._connect() as c:
            return self._get(c, lesson_id)

    def lessons(self, scopes: Iterable[str] | None = None) -> list[Lesson]:
        """Every lesson (or those in ``scopes``), oldest first."""
        with self._connect() as c:
            if scopes is None:
                rows = c.execute(f"SELECT {_COLUMNS} FROM lessons ORDER BY id")
            else:
                wanted = list(scopes)
                marks = ",".join("?" * len(wanted))
                rows = c.execute(f"SELECT {_COLUMNS} FROM lessons WHERE scope IN ({marks}) "
                                 "ORDER BY id", wanted)
            return [_lesson(r) for r in rows]

    def for_task(self, spec: TaskSpec) -> list[Lesson]:
        return self.lessons(task_scopes(spec))

    def __len__(self) -> int:
        with self._connect() as c:
            return int(c.execute("SELECT COUNT(*) FROM lessons").fetchone()[0])

    def counts(self, lesson_ids: Iterable[int], *, helpful: int = 0, harmful: int = 0,
               uses: int = 0, conn: sqlite3.Connection | None = None) -> None:
        """Add to the counters of the lessons that still exist (merged or removed ones are gone)."""
        with self._maybe(conn) as c:
            c.executemany(
                "UPDATE lessons SET helpful = helpful + ?, harmful = harmful + ?, uses = uses + ? "
                "WHERE id = ?", [(helpful, harmful, uses, i) for i in set(lesson_ids)])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: pass it as ``conn=`` to change several things atomically."""
        with self._connect(write=True) as conn:
            yield conn

    @contextlib.contextmanager
    def _maybe(self, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        if conn is not None:
            yield conn
        else:
            with self._connect(write=True) as c:
                yield c

    @staticmethod
    def _get(conn: sqlite3.Connection, lesson_id: int) -> Lesson:
        row = conn.execute(f"SELECT {_COLUMNS} FROM lessons WHERE id = ?", (int(lesson_id),)).fetchone()
        if row is None:
            raise KeyError(f"no lesson {lesson_id} in the book")
        return _lesson(row)

    # -- episodes, attempts, log ----------------------------------------------------------------

    def record_episode(self, episode: str, task: str, best_reward: float | None, valid: bool,
                       steps: int, failures: Sequence[str], lessons: Sequence[int],
                       conn: sqlite3.Connection | None = None) -> None:
        with self._maybe(conn) as c:
            c.execute("INSERT OR REPLACE INTO episodes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (episode, task, time.time(), best_reward, int(valid), steps,
                       json.dumps(list(failures)), json.dumps(list(lessons))))

    def episodes(self, task: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as c:
            query = "SELECT id, task, time, best_reward, valid, steps, failures, lessons FROM episodes"
            rows = c.execute(query + (" WHERE task = ?" if task else "") + " ORDER BY time",
                             (task,) if task else ())
            return [{"id": r[0], "task": r[1], "time": r[2], "best_reward": r[3],
                     "valid": bool(r[4]), "steps": r[5], "failures": json.loads(r[6]),
                     "lessons": json.loads(r[7])} for r in rows]

    def record_attempt(self, record: dict[str, Any], conn: sqlite3.Connection | None = None) -> None:
        """One step as the lessons agent saw it (a trajectory-shaped dict, see distill)."""
        with self._maybe(conn) as c:
            c.execute("INSERT INTO attempts (episode, step, task, time, record) VALUES (?, ?, ?, ?, ?)",
                      (record["episode"], record["step"], record["task"], time.time(),
                       json.dumps(record, default=str)))

    def attempts(self, task: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as c:
            query = "SELECT record FROM attempts" + (" WHERE task = ?" if task else "") + " ORDER BY id"
            return [json.loads(r[0]) for r in c.execute(query, (task,) if task else ())]

    def trim_attempts(self, keep: int) -> int:
        """Keep the newest ``keep`` attempts; returns how many went."""
        with self._connect(write=True) as c:
            cur = c.execute("DELETE FROM attempts WHERE id NOT IN "
                            "(SELECT id FROM attempts ORDER BY id DESC LIMIT ?)", (keep,))
            return cur.rowcount

    def log(self, kind: str, detail: dict[str, Any] | str,
            conn: sqlite3.Connection | None = None) -> None:
        with self._maybe(conn) as c:
            c.execute("INSERT INTO log (time, kind, detail) VALUES (?, ?, ?)",
                      (time.time(), kind, json.dumps(detail, default=str)))

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The log: reflections applied or refused, curation, in order."""
        with self._connect() as c:
            query = "SELECT time, kind, detail FROM log" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
            return [{"time": r[0], "kind": r[1], "detail": json.loads(r[2])}
                    for r in c.execute(query, (kind,) if kind else ())]

    # -- export ---------------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return {"kind": BOOK_KIND, "schema_version": SCHEMA_VERSION,
                "lessons": [x.as_dict() for x in self.lessons()],
                "episodes": self.episodes()}

    def import_lessons(self, exported: dict[str, Any]) -> int:
        """Add the lessons of an export (ids are new; counters and sources kept)."""
        with self.transaction() as c:
            for item in exported.get("lessons", []):
                new = self.add(item["scope"], item["text"], sources=item.get("sources", ()),
                               origin=item.get("origin", "import"),
                               signature=item.get("signature"), conn=c)
                self.counts([new.id], helpful=int(item.get("helpful", 0)),
                            harmful=int(item.get("harmful", 0)), uses=int(item.get("uses", 0)),
                            conn=c)
        return len(exported.get("lessons", []))


__all__ = [
    "GLOBAL",
    "LAYOUT_V1",
    "METRIC_FAMILIES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BookError",
    "Lesson",
    "LessonBook",
    "check_scope",
    "metric_family",
    "task_scopes",
]
