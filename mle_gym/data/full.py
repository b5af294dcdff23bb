"""The real competition data, prepared exactly as MLE-bench prepares it.

Sources, tried in order:

1. ``raw``: the Kaggle download a user points at (the competition zip, or a folder);
2. an MLE-bench data folder (``$MLE_BENCH_DATA_DIR/<kaggle-id>/raw``), reused as is;
3. the Kaggle API (the ``kaggle`` package and credentials), after the competition's rules
   were accepted on its web page.

Every zip is extracted, nested ones too, then the task's ``prepare.py`` writes ``public/``
and ``private/answers.csv`` into a temporary folder that is renamed into the cache. The
task's ``RAW_FILES`` are checked here, once for every task, before its ``prepare.py`` runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from mle_gym.data.cache import cache_root
from mle_gym.data.errors import DataNotAvailable
from mle_gym.data.folder import TaskData, atomic_prepare, write_split
from mle_gym.data.integrity import MARKER, read_answers
from mle_gym.spec import TaskSpec, load_task_module


def full_root(spec: TaskSpec) -> Path:
    return cache_root() / spec.slug / "full"


def rules_url(spec: TaskSpec) -> str:
    return f"https://www.kaggle.com/competitions/{spec.kaggle_id}/rules"


def extract_all(source: Path, target: Path, progress: bool = False) -> None:
    """Copy or extract ``source`` into ``target``, flattening and unzipping nested zips."""
    from tqdm.auto import tqdm  # here, not at the top: importing mle_gym.data stays light

    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, symlinks=False)
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            for member in tqdm(members, desc=f"extracting {source.name}", disable=not progress):
                archive.extract(member, target)
    else:
        raise DataNotAvailable(f"{source} is neither a folder nor a zip archive")
    # Kaggle archives hold zips of their own (train.csv.zip, images.zip): open them in place.
    while nested := [p for p in target.rglob("*.zip") if zipfile.is_zipfile(p)]:
        for path in nested:
            with zipfile.ZipFile(path) as archive:
                archive.extractall(path.parent)
            path.unlink()


def _mlebench_raw(spec: TaskSpec) -> Path | None:
    root = os.environ.get("MLE_BENCH_DATA_DIR")
    if not root:
        return None
    raw = Path(root).expanduser() / spec.kaggle_id / "raw"
    return raw if raw.is_dir() else None


def _kaggle_download(spec: TaskSpec, target: Path) -> Path:
    """Download the competition archive with the Kaggle API, or say exactly what is missing."""
    has_env = os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")
    config = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle")) / "kaggle.json"
    if not has_env and not config.is_file():
        raise DataNotAvailable(
            f"no source for the full {spec.slug} data. Either pass the Kaggle download "
            f"(`mle-gym prepare {spec.slug} --full --raw {spec.kaggle_id}.zip`), set "
            f"MLE_BENCH_DATA_DIR to an MLE-bench data folder, or set up the Kaggle API: create "
            f"a token at https://www.kaggle.com/settings (API > Create New Token), save it as "
            f"{config} (or set KAGGLE_USERNAME and KAGGLE_KEY), and accept the competition "
            f"rules at {rules_url(spec)}"
        )
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise DataNotAvailable(
            "Kaggle credentials found but the kaggle package is missing: `pip install kaggle`"
        ) from None
    api = KaggleApi()
    api.authenticate()
    try:
        api.competition_download_files(spec.kaggle_id, path=str(target), quiet=False)
    except Exception as exc:
        text = str(exc)
        if "403" in text or "Forbidden" in text:
            raise DataNotAvailable(
                f"Kaggle refused the download of {spec.kaggle_id}: accept the competition "
                f"rules first at {rules_url(spec)} (signed in as the token's user), then retry"
            ) from None
        raise DataNotAvailable(f"the Kaggle download of {spec.kaggle_id} failed: {text}") from None
    archives = sorted(target.glob("*.zip"))
    if not archives:
        raise DataNotAvailable(f"the Kaggle download of {spec.kaggle_id} produced no archive")
    return archives[0]


def prepare_full(
    spec: TaskSpec, raw: Path | None = None, progress: bool = False, force: bool = False
) -> TaskData:
    """The task's full data in the cache, prepared from the first source that is there.

    A cached folder is checked against its marker (sha256 of every private file, size of
    every public one); a damaged one is refused with the command that rebuilds it (it is
    not rebuilt silently: that may need a download). ``force`` rebuilds it."""
    target = full_root(spec)
    if not force and (target / MARKER).exists():
        data = TaskData(spec, "full", target)
        data.verify()
        return data
    from tqdm.auto import tqdm  # here, not at the top: importing mle_gym.data stays light

    module = load_task_module(spec, "prepare")

    def build(tmp: Path) -> dict:
        with tempfile.TemporaryDirectory(prefix="mle-gym-raw-", dir=tmp.parent) as scratch:
            extracted = Path(scratch) / "raw"
            source = Path(raw).expanduser() if raw else _mlebench_raw(spec)
            if source is None:
                source = _kaggle_download(spec, Path(scratch) / "download")
            if not source.exists():
                raise DataNotAvailable(f"{source} does not exist")
            extract_all(source, extracted, progress)
            missing = [f for f in getattr(module, "RAW_FILES", []) if not (extracted / f).exists()]
            if missing:
                raise DataNotAvailable(
                    f"{source} lacks {', '.join(missing)}: pass the complete Kaggle download "
                    f"of {spec.kaggle_id}"
                )
            public, private = tmp / "public", tmp / "private"
            public.mkdir()
            private.mkdir()
            with tqdm(total=3, desc=f"preparing {spec.slug}", disable=not progress) as bar:
                module.prepare_full(extracted, public, private)
                bar.update()
                shutil.copy(spec.folder / "description.md", public / "description.md")
                bar.update()
                answers = read_answers(spec, private / "answers.csv")
                write_split(answers, spec.id_column, 0, private / "split.csv")
                bar.update()
        return {"task": spec.slug, "flavour": "full", "source": str(source)}

    atomic_prepare(target, build, replace=force, spec=spec)
    data = TaskData(spec, "full", target)
    data.verify()
    return data
