"""Read a submission file and align it with the answers by id, with actionable reasons."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

MAX_LISTED = 5


class InvalidSubmission(ValueError):
    """The submission cannot be scored; ``reason`` tells the author what to fix."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _some(values: Iterable[object]) -> str:
    """A short list for messages: the first few values and how many more."""
    items = [str(v) for v in values]
    shown = ", ".join(repr(i) for i in items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def read_submission(source: Path | pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Load a submission as strings-for-ids; reject unreadable or empty files."""
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidSubmission(f"no submission file: {path.name} was not written")
        if path.stat().st_size == 0:
            raise InvalidSubmission(f"{path.name} is empty: write a header row and one row per test id")
        frame = _read_with_arrow(path, id_column)
        try:
            # A converter keeps ids as written: "NA" or "null" stay strings, not NaN.
            if frame is None:
                frame = pd.read_csv(path, converters={id_column: str}, low_memory=False)
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidSubmission(f"{path.name} is not a readable CSV file: {first}") from None
        except pd.errors.EmptyDataError:
            raise InvalidSubmission(f"{path.name} has no header row") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if id_column in frame.columns:
        frame[id_column] = frame[id_column].astype(str)
    return frame


def _pandas_na_values() -> list[str]:
    try:
        from pandas._libs.parsers import STR_NA_VALUES
    except ImportError:  # moved in some pandas release: the list as of pandas 2 and 3
        STR_NA_VALUES = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                         "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                         "nan", "null"}
    return sorted(STR_NA_VALUES)


def _read_with_arrow(path: Path, id_column: str) -> pd.DataFrame | None:
    """pyarrow's multi-threaded CSV reader, configured to read what pandas' reader reads.

    Returns None (so the pandas reader runs, with its error messages) when pyarrow is not
    installed, the file does not parse, or anything in it could read differently: repeated
    or empty column names, a missing id, or a column pandas would leave as text (dates).
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    options = pacsv.ConvertOptions(
        column_types={id_column: pa.string()},
        null_values=_pandas_na_values(),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        timestamp_parsers=[],
    )
    try:
        table = pacsv.read_csv(path, convert_options=options)
        names = table.column_names
    except Exception:  # any trouble: the pandas reader reads it again and says what is wrong
        return None
    if len(set(names)) != len(names) or not all(n.strip() for n in names):
        return None
    plain = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string,
             pa.types.is_boolean, pa.types.is_null)
    if not all(any(kind(f.type) for kind in plain) for f in table.schema):
        return None
    if id_column in names and table.column(id_column).null_count:
        return None
    return table.to_pandas()


def check_columns(
    frame: pd.DataFrame, id_column: str, targets: list[str], optional: list[str] = ()
) -> None:
    """The id column and the target columns, in any order; ``optional`` ones may be there too."""
    expected = [id_column, *targets]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected and c not in optional]
    dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {_some(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {_some(extra)}")
    if dupes:
        problems.append(f"repeated column(s) {_some(dupes)}")
    if problems:
        raise InvalidSubmission(
            "; ".join(problems) + f". The header must be: {','.join(expected)}"
        )


def align(frame: pd.DataFrame, answer_ids: pd.Index, id_column: str) -> pd.DataFrame:
    """Reorder the submission to the answers' id order; every id exactly once."""
    fast = _align_bijection(frame, answer_ids, id_column)
    if fast is not None:
        return fast
    return _align_or_explain(frame, answer_ids, id_column)


def _align_bijection(frame: pd.DataFrame, answer_ids: pd.Index, id_column: str) -> pd.DataFrame | None:
    """The submission in answer order by one hash lookup per row; None unless it holds
    every test id exactly once, so that errors take the slow path naming the ids at fault."""
    n = len(answer_ids)
    if n == 0 or len(frame) != n:
        return None
    positions = _positions(frame[id_column], answer_ids)
    if positions.min() < 0:
        return None
    seen = np.zeros(n, dtype=bool)
    seen[positions] = True
    if not seen.all():  # n rows, all known, some missing: so some id is repeated
        return None
    rest = frame.drop(columns=[id_column])
    if not np.array_equal(positions, np.arange(n)):
        order = np.empty(n, dtype=np.intp)
        order[positions] = np.arange(n)
        rest = rest.iloc[order]
    rest.index = answer_ids
    return rest


def _positions(ids: pd.Series, answer_ids: pd.Index) -> np.ndarray:
    """Where each id sits among ``answer_ids`` (-1 when absent): Arrow's hash lookup when
    pyarrow is there (about twice as fast on string ids as pandas'), else pandas'."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return answer_ids.get_indexer(ids)
    found = pc.index_in(pa.array(ids, type=pa.string()), value_set=pa.array(answer_ids, type=pa.string()))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)


def _align_or_explain(frame: pd.DataFrame, answer_ids: pd.Index, id_column: str) -> pd.DataFrame:
    if len(frame) == 0:
        raise InvalidSubmission(f"the submission has no rows; expected {len(answer_ids)} (one per test id)")
    ids = frame[id_column]
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InvalidSubmission(
            f"{len(duplicated)} id(s) appear more than once in column {id_column!r}: {_some(duplicated)}"
        )
    indexed = frame.set_index(id_column)
    unknown = indexed.index.difference(answer_ids)
    if len(unknown):
        raise InvalidSubmission(
            f"{len(unknown)} id(s) in column {id_column!r} are not test ids: {_some(unknown)}"
        )
    missing = answer_ids.difference(indexed.index)
    if len(missing):
        raise InvalidSubmission(
            f"{len(missing)} test id(s) are missing from the submission: {_some(missing)}"
        )
    return indexed.loc[answer_ids]


def align_rows(frame: pd.DataFrame, answer_ids: pd.Index, id_column: str) -> pd.DataFrame:
    """Match rows by position, for ids that are not unique; the ids must agree row by row."""
    if len(frame) != len(answer_ids):
        raise InvalidSubmission(
            f"the submission has {len(frame)} rows; it needs {len(answer_ids)}, one per row of "
            f"the test file and in its order"
        )
    given = frame[id_column].astype(str).str.strip().to_numpy()
    differ = np.flatnonzero(given != answer_ids.astype(str).str.strip().to_numpy())
    if len(differ):
        raise InvalidSubmission(
            f"rows must keep the test file's order and its {id_column!r} values unchanged; "
            f"data row(s) {', '.join(str(r) for r in differ[:MAX_LISTED] + 1)}"
            + (f" and {len(differ) - MAX_LISTED} more" if len(differ) > MAX_LISTED else "")
            + " differ"
        )
    return frame.set_index(pd.Index(answer_ids, name=id_column))


def numeric_matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The given columns as float64; reject text, NaN and infinite values with the rows at fault."""
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad_text = values.isna() & frame[column].notna()
        if bad_text.any():
            rows = frame.index[bad_text.to_numpy()]
            raise InvalidSubmission(
                f"column {column!r} has non-numeric values for id(s) {_some(rows)}"
            )
        arr = values.to_numpy(dtype=np.float64)
        if np.isnan(arr).any():
            rows = frame.index[np.isnan(arr)]
            raise InvalidSubmission(f"column {column!r} is empty or NaN for id(s) {_some(rows)}")
        if np.isinf(arr).any():
            rows = frame.index[np.isinf(arr)]
            raise InvalidSubmission(f"column {column!r} is infinite for id(s) {_some(rows)}")
        out[:, j] = arr
    return out
