"""Read a submission file and align it with the answers by id, with actionable reasons.

A submission is written by untrusted code, so every input is bounded before it is parsed:
the file's kind and size (from the task's expected rows) are checked with ``lstat`` before a
byte is read, the bytes are checked for NULs and UTF-8, and the header (at most 64 KiB) is
checked against the expected columns before the body is parsed. After that every step is
linear in a bounded file, and every message is bounded in length (values quoted and cut).

There is one reader, pyarrow's, with a declared type per column: numeric columns parse as
float64 or the file is rejected, so no value reads differently between two code paths.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import stat
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

MAX_LISTED = 5
MAX_REASON = 500  # characters of any invalid_reason
MAX_VALUE = 40  # characters of one quoted value inside a reason
HEADER_BYTES = 64 * 1024
MIN_MAX_BYTES = 1 << 20  # the size bound never goes below 1 MiB

# pandas' default missing-value spellings: a text cell spelled so reads as "" (as MLE-bench's
# read_csv + fillna("") reads it), a numeric one is rejected as empty.
NA_VALUES = sorted({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                    "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                    "nan", "null"})


class InvalidSubmission(ValueError):
    """The submission cannot be scored; ``reason`` tells the author what to fix.

    The reason is cut to ``MAX_REASON`` characters whatever built it."""

    def __init__(self, reason: str) -> None:
        reason = bounded(reason)
        super().__init__(reason)
        self.reason = reason


def bounded(text: str, limit: int = MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 16] + " ... (truncated)"


def short(value: object) -> str:
    """``repr`` of a value, cut to ``MAX_VALUE`` characters."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 4] + "...'"


def _some(values: Iterable[object]) -> str:
    """A short list for messages: the first few values and how many more (linear, lazy)."""
    shown, total = [], 0
    for value in values:
        if total < MAX_LISTED:
            shown.append(short(str(value) if not isinstance(value, (int, float)) else value))
        total += 1
    more = total - MAX_LISTED
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Layout:
    """What a task's submission must look like, and the most bytes it may take."""

    id_column: str
    targets: tuple[str, ...]
    text_targets: frozenset[str]  # read as text; the others as float64
    optional: tuple[str, ...]
    max_bytes: int

    @property
    def header(self) -> str:
        return ",".join((self.id_column, *self.targets))


def size_bound(rows: int, widest: dict[str, int], n_columns: int) -> int:
    """A generous byte budget: per row, twice each text column's widest answer (every quote
    doubled) plus 64 bytes a cell (any float's repr fits in 24), with a 1 MiB floor."""
    per_row = sum(2 * w + 64 for w in widest.values()) + 64 * max(0, n_columns - len(widest)) + 2
    return max(MIN_MAX_BYTES, rows * per_row + HEADER_BYTES)


# -- bytes ---------------------------------------------------------------------------------


def load_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, after checking with ``lstat`` that it is a regular file (no link,
    folder, FIFO or device) no larger than ``max_bytes``; never reads more than that."""
    name = path.name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise InvalidSubmission(f"no submission file: {name} was not written") from None
    except OSError as exc:
        raise InvalidSubmission(f"{name} cannot be read ({exc.strerror}); write a plain CSV file") from None
    _check_kind(name, info, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InvalidSubmission(f"{name} cannot be read ({exc.strerror}); write a plain CSV file") from None
    with os.fdopen(fd, "rb") as handle:
        _check_kind(name, os.fstat(handle.fileno()), max_bytes)  # the same file as lstat saw
        data = handle.read(max_bytes + 1)
    if not data:
        raise InvalidSubmission(f"{name} is empty: write a header row and one row per test id")
    if len(data) > max_bytes:
        raise _too_big(name, len(data), max_bytes)
    return data


def _check_kind(name: str, info: os.stat_result, max_bytes: int) -> None:
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        raise InvalidSubmission(f"{name} is a symbolic link; write the CSV file itself")
    if stat.S_ISDIR(mode):
        raise InvalidSubmission(f"{name} is a folder, not a file; write the CSV file at that path")
    if not stat.S_ISREG(mode):
        raise InvalidSubmission(f"{name} is not a regular file; write a plain CSV file")
    if info.st_size > max_bytes:
        raise _too_big(name, info.st_size, max_bytes)


def _too_big(name: str, size: int, max_bytes: int) -> InvalidSubmission:
    return InvalidSubmission(
        f"{name} is {size:,} bytes; a submission for this task is at most {max_bytes:,} bytes "
        f"(one row per test id, only the required columns)"
    )


def check_text(data: bytes, name: str) -> None:
    """Reject NUL bytes and text that is not UTF-8, saying where; memory stays bounded."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InvalidSubmission(
            f"{name} contains a NUL byte (at byte {nul:,}): a CSV file is text; write it with "
            f"to_csv or the csv module"
        )
    if data.isascii():
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    view, step = memoryview(data), 1 << 20
    try:
        for start in range(0, len(data), step):
            decoder.decode(view[start : start + step], final=start + step >= len(data))
    except UnicodeDecodeError as exc:
        at = start + exc.start
        raise InvalidSubmission(
            f"{name} is not UTF-8 text (byte {data[at]:#04x} at offset {at:,}); save it as UTF-8"
        ) from None


# -- header --------------------------------------------------------------------------------


def read_header(data: bytes, name: str) -> list[str]:
    """The column names of the first line, which must end within ``HEADER_BYTES``."""
    end = data.find(b"\n", 0, HEADER_BYTES)
    if end < 0:
        if len(data) > HEADER_BYTES:
            raise InvalidSubmission(
                f"the first line of {name} is longer than {HEADER_BYTES // 1024} KiB; "
                f"it must be the header row"
            )
        end = len(data)
    line = data[:end].decode("utf-8").removeprefix("\ufeff").removesuffix("\r")
    return next(csv.reader([line]), [])


def check_header(names: Sequence[str], layout: Layout) -> None:
    """Exactly the expected names (any order), each once; the task's optional ones may be
    there too. Linear in the number of names; the reason says what to change."""
    expected = [layout.id_column, *layout.targets]
    allowed = set(expected) | set(layout.optional)
    counts = Counter(names)
    padded = [n for n in counts if n not in allowed and n.strip() in allowed]
    index = [n for n in counts if n == "" or n.startswith("Unnamed: ")]
    extra = [n for n in counts if n not in allowed and n not in padded and n not in index]
    given_stripped = {n.strip() for n in padded}
    missing = [c for c in expected if c not in counts and c not in given_stripped]
    dupes = [n for n, k in counts.items() if k > 1 and n in allowed]
    problems = []
    if padded:
        problems.append(f"column name(s) {_some(padded)} have surrounding spaces: write the names exactly")
    if index:
        problems.append(
            f"column(s) {_some(index)} look like a pandas index: write the file with "
            f"to_csv(path, index=False)"
        )
    if missing:
        problems.append(f"missing column(s) {_some(missing)}")
    if extra:
        problems.append(f"remove the unexpected column(s) {_some(extra)}")
    if dupes:
        problems.append(f"repeated column(s) {_some(dupes)}")
    if problems:
        raise InvalidSubmission("; ".join(problems) + f". The header must be: {layout.header}")


# -- body ----------------------------------------------------------------------------------

_CONVERSION = re.compile(r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to \w+: "
                         r"invalid value '(.*)'", re.DOTALL)


def read_submission(source: Path | pd.DataFrame, layout: Layout) -> pa.Table:
    """The submission as a table of the id column (text, as written) and the target columns
    (float64, or text for text targets); reject anything else with a reason."""
    if isinstance(source, pd.DataFrame):
        name = "the submission"
        data = source.to_csv(index=False).encode("utf-8")
        if len(data) > layout.max_bytes:
            raise _too_big(name, len(data), layout.max_bytes)
    else:
        path = Path(source)
        name = path.name
        data = load_bytes(path, layout.max_bytes)
    check_text(data, name)
    names = read_header(data, name)
    check_header(names, layout)
    wanted = [layout.id_column, *layout.targets]
    types = {c: pa.string() if c == layout.id_column or c in layout.text_targets else pa.float64()
             for c in wanted}
    convert = pacsv.ConvertOptions(
        column_types=types, include_columns=wanted, null_values=NA_VALUES,
        strings_can_be_null=False, timestamp_parsers=[],
    )
    table = _parse(data, names, convert, name)
    for column in layout.text_targets:  # MLE-bench's read_csv + fillna(""): NA spellings are ""
        values = table.column(column)
        blank = pc.is_in(values, value_set=pa.array(NA_VALUES))
        table = table.set_column(table.schema.get_field_index(column), column,
                                 pc.if_else(blank, "", values))
    return table


def _parse(data: bytes, names: list[str], convert: pacsv.ConvertOptions, name: str) -> pa.Table:
    block = 1 << 20
    while True:
        read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=block)
        try:
            return pacsv.read_csv(pa.BufferReader(data), read_options=read, convert_options=convert)
        except pa.ArrowInvalid as exc:
            text = str(exc)
            if "straddling" in text and block < len(data):  # one row longer than a block
                block = len(data) + 1
                continue
            raise InvalidSubmission(_parse_reason(text, names, name)) from None


def _parse_reason(text: str, names: list[str], name: str) -> str:
    found = _CONVERSION.search(text)
    if found:
        column, row, value = found.groups()
        label = names[int(column)] if int(column) < len(names) else f"#{column}"
        where = f" on line {int(row)}" if row else ""
        return (f"column {label!r} has a non-numeric value {short(value)}{where}: "
                f"write decimal numbers (like 0.25 or 1e-3), not text, booleans or hex")
    first = text.strip().splitlines()[0] if text.strip() else "parse error"
    first = first.removeprefix("CSV parse error: ")
    return f"{name} is not a readable CSV file: {first}"


# -- ids -----------------------------------------------------------------------------------


def integer_ids(ids: pa.Array) -> np.ndarray | None:
    """Ids as int64 when every one is an integer, also when written as a float (``6000.0``,
    as pandas writes an id column that became float) or with leading zeros, as MLE-bench's
    numeric comparison reads them; None otherwise (the ids then compare as text)."""
    if not len(ids):
        return None
    try:  # a failed cast costs a scan and an exception: look at the first id first
        float(ids[0].as_py())
    except (TypeError, ValueError):
        return None
    try:
        return pc.cast(ids, pa.int64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        values = pc.cast(ids, pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    exact = np.isfinite(values) & (np.abs(values) <= 2.0**53)
    if not exact.all() or (values != np.round(values)).any():
        return None
    return values.astype(np.int64)


class IdIndex:
    """The answers' ids, to find where each submitted id sits in one vectorised lookup."""

    def __init__(self, ids: pa.Array) -> None:
        self.text = ids
        self.n = len(ids)
        canonical = integer_ids(ids)
        # Integer ids only when their text is the canonical one, so "007" never hides an id.
        if canonical is not None and pc.all(pc.equal(pc.cast(pa.array(canonical), pa.string()), ids)).as_py():
            self.ints: np.ndarray | None = canonical
            low, high = (int(canonical.min()), int(canonical.max())) if self.n else (0, -1)
            self.low = low
            if high - low < 4 * self.n + 1024:  # dense ids: a lookup table beats a hash
                self.table: np.ndarray | None = np.full(high - low + 1, -1, dtype=np.intp)
                self.table[canonical - low] = np.arange(self.n)
            else:
                self.table = None
                self.hashed = pd.Index(canonical)
        else:
            self.ints = None

    def positions(self, ids: pa.Array) -> np.ndarray:
        """Where each id sits among the answers' ids (-1 when absent)."""
        if ids.equals(self.text):  # the test file's order, as written: a comparison of buffers
            return np.arange(self.n, dtype=np.intp)
        if self.ints is not None:
            given = integer_ids(ids)
            if given is not None:
                if self.table is None:
                    return self.hashed.get_indexer(given)
                offset = given - self.low
                inside = (offset >= 0) & (offset < len(self.table))
                out = np.full(len(given), -1, dtype=np.intp)
                out[inside] = self.table[offset[inside]]
                return out
        found = pc.index_in(ids, value_set=self.text)
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)

    def labels(self, rows: np.ndarray) -> list[str]:
        return self.text.take(pa.array(rows[: MAX_LISTED + 1])).to_pylist()


def _listed(values: list[object], total: int) -> str:
    shown = ", ".join(short(v) for v in values[:MAX_LISTED])
    return shown + (f" and {total - MAX_LISTED} more" if total > MAX_LISTED else "")


def align(ids: pa.Array, index: IdIndex, id_column: str) -> np.ndarray:
    """The submission row of each answer (answer order); every test id exactly once."""
    n = index.n
    if len(ids) == 0:
        raise InvalidSubmission(f"the submission has no rows; expected {n:,} (one per test id)")
    positions = index.positions(ids)
    unknown = np.flatnonzero(positions < 0)
    if len(unknown):
        raise InvalidSubmission(
            f"{len(unknown):,} id(s) in column {id_column!r} are not test ids: "
            f"{_listed(ids.take(pa.array(unknown[:MAX_LISTED])).to_pylist(), len(unknown))}"
        )
    counts = np.bincount(positions, minlength=n)
    repeated = np.flatnonzero(counts > 1)
    if len(repeated):
        raise InvalidSubmission(
            f"{len(repeated):,} id(s) appear more than once in column {id_column!r}: "
            f"{_listed(index.labels(repeated), len(repeated))}"
        )
    absent = np.flatnonzero(counts == 0)
    if len(absent):
        raise InvalidSubmission(
            f"{len(absent):,} test id(s) are missing from the submission: "
            f"{_listed(index.labels(absent), len(absent))}"
        )
    order = np.empty(n, dtype=np.intp)
    order[positions] = np.arange(n)
    return order


def align_rows(ids: pa.Array, answer_ids: pa.Array, id_column: str) -> np.ndarray:
    """Match rows by position, for ids that are not unique; the ids must equal the test
    file's row by row, exactly as written (as MLE-bench compares them)."""
    if len(ids) != len(answer_ids):
        raise InvalidSubmission(
            f"the submission has {len(ids):,} rows; it needs {len(answer_ids):,}, one per row of "
            f"the test file and in its order"
        )
    differ = np.flatnonzero(~pc.equal(ids, answer_ids).to_numpy(zero_copy_only=False))
    if len(differ):
        first = int(differ[0])
        given, wanted = ids[first].as_py(), answer_ids[first].as_py()
        hint = " (surrounding spaces differ: copy the text unchanged)" if given.strip() == wanted.strip() else ""
        raise InvalidSubmission(
            f"rows must keep the test file's order and its {id_column!r} values unchanged; "
            f"{len(differ):,} data row(s) differ, the first is row {first + 1}: {short(given)} "
            f"where the test file has {short(wanted)}{hint}"
        )
    return np.arange(len(ids))


def check_finite(values: np.ndarray, column: str, ids: IdIndex) -> None:
    """Reject NaN (an empty or NA cell) and infinite values with the ids at fault."""
    bad = ~np.isfinite(values)
    if bad.any():
        nan = np.isnan(values)
        rows = np.flatnonzero(nan if nan.any() else bad)
        what = "empty or NaN" if nan.any() else "infinite"
        raise InvalidSubmission(
            f"column {column!r} is {what} for id(s) {_listed(ids.labels(rows), len(rows))}"
        )
