"""The one place that talks to the Hugging Face Hub or to a local folder standing in for a Hub repo.

A *target* is either a Hub repo id (`org/name`) or a local folder (a path starting with `.`, `/`, `~` or
`file://`). A local target holds exactly the files the Hub repo would, so `datasets.load_dataset(folder,
config)` and `from_pretrained(folder)` work on it. Local writes are atomic: files are written to a temporary
name in the same directory and renamed into place.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_TYPES = ("model", "dataset", "space")
# The precisions a model target is loaded at (the evaluation harness loads at one; a leaderboard request names
# one). Here, in the lowest layer, because both `eval/` and `leaderboard/` (and the Space, without torch) use it.
PRECISIONS = ("float32", "bfloat16", "float16", "4bit")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


class HubError(RuntimeError):
    """A clear, user-facing error about a target: bad id, missing repo, missing token, unwritable path."""


class HubConflict(HubError):
    """A write with `parent_commit` lost a race: the repo changed since that commit (the Hub's 412)."""


# ----------------------------------------------------------------------------------------------- targets


def is_local(target: str | os.PathLike) -> bool:
    """True when `target` names a local folder rather than a Hub repo id."""
    return isinstance(target, os.PathLike) or str(target).startswith((".", "/", "~", "file://"))


def local_path(target: str | os.PathLike) -> Path:
    text = os.fspath(target)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return Path(text).expanduser().resolve()


def check_repo_id(repo_id: str) -> str:
    """Return `repo_id` if it is a well-formed `org/name`, else raise HubError saying what is wrong."""
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise HubError(
            f"{repo_id!r} is not a valid target: use a Hub repo id 'org/name' (letters, digits, '-', '_', '.') "
            "or a local folder starting with '.', '/', '~' or 'file://'"
        )
    return repo_id


def check_path_in_repo(path: str) -> str:
    """Reject absolute paths, `..` and odd characters in a path inside a repo."""
    if not _SAFE_PATH.match(path) or any(part in ("", ".", "..") for part in path.split("/")):
        raise HubError(
            f"{path!r} is not a safe path inside a repo (no '..', no absolute paths, no odd characters)"
        )
    return path


def describe(target: str | os.PathLike) -> str:
    return f"local folder {local_path(target)}" if is_local(target) else f"Hub repo {target}"


def target_label(target: str) -> str:
    """A short name for a target: the folder's name, or the repo id."""
    return Path(local_path(target)).name if is_local(target) else target


def check_writable(target: str, *, repo_type: str = "dataset") -> None:
    """Fail early (before building anything) when `target` cannot be written: a malformed repo id, no Hub
    token, an unwritable folder."""
    if is_local(target):
        _writable_dir(local_path(target))
        return
    check_repo_id(target)
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise HubError(
            f"cannot push to the Hub repo {target}: HF_HUB_OFFLINE is set (unset it, or give a local folder)"
        )
    _token_for_write()


def check_model(model: str, revision: str | None = None) -> None:
    """Raise HubError naming the problem when `model` is neither a local model folder nor a Hub model."""
    if is_local(model):
        path = local_path(model)
        if not (path / "config.json").is_file():
            raise HubError(f"model {model!r} does not exist (no config.json in {path})")
        return
    check_repo_id(model)
    from huggingface_hub import constants, try_to_load_from_cache

    if constants.HF_HUB_OFFLINE:  # offline: a model in the local cache is fine
        if not isinstance(try_to_load_from_cache(model, "config.json", revision=revision), str):
            raise HubError(f"model {model!r} is not in the local cache and HF_HUB_OFFLINE is set")
        return
    if not exists(model, repo_type="model"):
        raise HubError(f"model {model!r} does not exist on the Hub (or is private)")


def resolved_commit(repo_id: str, revision: str | None, *, repo_type: str = "model") -> str | None:
    """The commit sha `revision` of a Hub repo points at; None when the Hub cannot be asked (offline)."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        return _api().repo_info(repo_id, repo_type=repo_type, revision=revision).sha
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError):
        return None


# ------------------------------------------------------------------------------------ Hub client helpers


def _api():
    from huggingface_hub import HfApi

    return HfApi()


def _token_for_write() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise HubError("writing to the Hub needs a token: run `hf auth login` or set HF_TOKEN")
    return token


@contextmanager
def _hub_errors(target: str, repo_type: str) -> Iterator[None]:
    """Translate huggingface_hub's exceptions into HubError messages that name the target."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except RepositoryNotFoundError as err:
        raise HubError(f"{repo_type} repo {target!r} does not exist on the Hub (or is private)") from err
    except RevisionNotFoundError as err:
        raise HubError(f"{repo_type} repo {target!r}: revision not found") from err
    except EntryNotFoundError as err:
        raise HubError(f"{repo_type} repo {target!r}: file not found ({err})") from err
    except OfflineModeIsEnabled as err:
        raise HubError(
            f"{repo_type} repo {target!r}: HF_HUB_OFFLINE is set, the Hub cannot be reached"
        ) from err
    except HfHubHTTPError as err:
        raise HubError(f"{repo_type} repo {target!r}: the Hub answered {err}") from err
    except ValueError as err:  # huggingface_hub validates a README's metadata with the Hub before a commit
        if "Invalid metadata in README.md" not in str(err):
            raise
        raise HubError(f"{repo_type} repo {target!r}: the Hub refuses the card: {err}") from err


def _create_repo(repo_id: str, repo_type: str, private: bool = False, space_sdk: str | None = None) -> None:
    token = _token_for_write()
    if repo_type == "space":
        space_sdk = space_sdk or "gradio"  # the Hub needs an SDK for a Space; ours are Gradio apps
    with _hub_errors(repo_id, repo_type):
        _api().create_repo(
            repo_id, repo_type=repo_type, private=private, exist_ok=True, token=token, space_sdk=space_sdk
        )


# ---------------------------------------------------------------------------------- atomic local writes


def _writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HubError(f"cannot create local target {path}: {err.strerror or err}") from err
    if not os.access(path, os.W_OK):
        raise HubError(f"local target {path} is not writable")
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory and an atomic rename."""
    _writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private to their creator
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for every thread, for a moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fresh_dir(parent: Path, prefix: str) -> Path:
    """A new empty folder in `parent`, with the mode a plain mkdir gives (not mkdtemp's 0700)."""
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    tmp.chmod(0o777 & ~_umask())
    return tmp


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished directory `src` to `dst`, replacing it; readers never see a half-copied folder."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -------------------------------------------------------------------------------------- dataset cards

_BLOCK = re.compile(r"<!-- config: (?P<name>[^ ]+) -->\n(?P<text>.*?)<!-- end config: (?P=name) -->\n?", re.S)
# The first line of a config's section: that config's own license and sources (a card-level `license` must be
# right for every config, so it is recomputed from these lines over all configs).
_PROVENANCE = re.compile(r"^License: `(?P<license>[^`]+)`(?: · Source datasets: (?P<sources>.+))?$", re.M)
# The Hub's `size_categories` values, each with the row count it stays under.
SIZE_CATEGORIES = tuple(
    zip(
        (10**e for e in range(3, 15)),
        ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B")
        + ("10B<n<100B", "100B<n<1T"),
    )
)


def size_category(n: int) -> str:
    """The Hub's `size_categories` value for a dataset of `n` rows."""
    return next((label for bound, label in SIZE_CATEGORIES if n < bound), "n>1T")


def dataset_data_dir(config_name: str) -> str:
    """The folder of a config's parquet shards: `datasets`' own rule in `push_to_hub` (`data/` for the config
    named `default`, else the config's name), so a local target and a Hub repo have the same layout."""
    return "data" if config_name == "default" else config_name


def split_card(text: str) -> tuple[dict, str]:
    """A README's YAML front matter (a dict) and its body, parsed by huggingface_hub."""
    from huggingface_hub import RepoCard

    card = RepoCard(text, ignore_metadata_errors=True)
    return card.data.to_dict(), card.text.lstrip("\n")


def join_card(meta: dict, body: str) -> str:
    from huggingface_hub import CardData, RepoCard

    return str(RepoCard(f"---\n{CardData(**meta).to_yaml()}\n---\n\n{body.lstrip()}"))


def _demote_headings(text: str) -> str:
    """One level down for markdown headings outside code fences (a config's section nests under the card)."""
    out, fenced = [], False
    for line in text.splitlines():
        fenced ^= line.lstrip().startswith("```")
        out.append("#" + line if not fenced and re.match(r"#{1,5} ", line) else line)
    return "\n".join(out)


def _config_sections(card_text: str) -> tuple[str, dict[str, str]]:
    """The card text's title part and its per-config sections."""
    blocks = {m["name"]: m["text"] for m in _BLOCK.finditer(card_text)}
    first = _BLOCK.search(card_text)
    return (card_text[: first.start()] if first else card_text).rstrip("\n"), blocks


def _total_rows(dataset_info) -> int:
    infos = dataset_info if isinstance(dataset_info, list) else [dataset_info] if dataset_info else []
    return sum(split.get("num_examples", 0) for info in infos for split in info.get("splits", []))


def _provenance_line(meta: dict) -> str:
    sources = meta.get("source_datasets") or []
    line = f"License: `{meta.get('license') or 'unknown'}`"
    return line + (" · Source datasets: " + ", ".join(f"`{s}`" for s in sources) if sources else "")


def _section(config_name: str, meta: dict, text: str) -> str:
    return f"## Config `{config_name}`\n\n{_provenance_line(meta)}\n\n{text.strip()}\n"


def _merge_card(card, config_name: str, meta: dict | None, body: str | None) -> None:
    """Update a `DatasetCard` in place for a pushed config (whose `configs:` and `dataset_info` entries the push
    wrote): `meta` merged; `license` and `source_datasets` recomputed so that they are right for every config
    (a list of licenses where configs differ, each config's own in its section); `size_categories` counted over
    all configs; the body's section for this config replaced (other configs' sections kept)."""
    data = card.data
    meta = dict(meta or {})
    head, sections = _config_sections(card.text)
    if body is not None:
        title, rest = body.lstrip("\n").partition("\n")[::2] if body.startswith("# ") else ("", body)
        sections[config_name] = _section(config_name, meta, _demote_headings(rest.strip()))
        head = head if head.strip() else title
    elif (m := _PROVENANCE.search(sections.get(config_name, ""))) and meta.keys() & {
        "license",
        "source_datasets",
    }:
        kept = {"license": m["license"], "source_datasets": re.findall(r"`([^`]+)`", m["sources"] or "")}
        line = _provenance_line({**kept, **meta})
        sections[config_name] = _PROVENANCE.sub(lambda _: line, sections[config_name], count=1)
    for key, value in meta.items():
        data[key] = value
    provenance = [m for text in sections.values() if (m := _PROVENANCE.search(text))]
    if provenance:  # what every config says, not what the last push said
        licenses = sorted({m["license"] for m in provenance})
        data["license"] = licenses[0] if len(licenses) == 1 else licenses
        sources = {s for m in provenance for s in re.findall(r"`([^`]+)`", m["sources"] or "")}
        data["source_datasets"] = sorted(sources) or None
    if dataset_info := data.get("dataset_info"):
        data["size_categories"] = [size_category(_total_rows(dataset_info))]
    if sections:
        card.text = f"\n{head.strip()}\n\n" + "\n".join(
            f"<!-- config: {name} -->\n{text}<!-- end config: {name} -->\n"
            for name, text in sorted(sections.items())
        )


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Drop the warning `datasets` logs on every small push ("Setting num_proc from 1 back to 1 ... it only
    contains one shard"): it tells the user nothing (we never ask for num_proc)."""
    import logging

    logger = logging.getLogger("datasets.arrow_dataset")

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Setting num_proc from 1 back to 1")

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _write_local_config(root: Path, config_name: str, dataset_dict, card) -> None:
    """Write a config's shards into `root` as `push_to_hub` lays them out (same folder, names and sharding), and
    its `configs:` / `dataset_info` entries into `card` with `datasets`' own metadata classes."""
    from datasets import config as datasets_config
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from datasets.utils.py_utils import convert_file_size_to_int

    data_dir = dataset_data_dir(config_name)
    max_shard = convert_file_size_to_int(datasets_config.MAX_SHARD_SIZE)
    tmp = _fresh_dir(root, f".{data_dir}.")
    try:
        splits, download_size, features = SplitDict(), 0, None
        for split, ds in dataset_dict.items():
            num_bytes = ds.data.nbytes * len(ds) // max(ds.data.num_rows, 1)  # what a selection keeps
            num_shards = num_bytes // max_shard + 1
            for index in range(num_shards):
                path = tmp / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
                ds.shard(num_shards=num_shards, index=index, contiguous=True).to_parquet(str(path))
                download_size += path.stat().st_size
            splits.add(SplitInfo(name=split, num_bytes=num_bytes, num_examples=len(ds)))
            features = ds.features
        _replace_dir(tmp, root / data_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dataset_size = sum(s.num_bytes for s in splits.values())
    info = DatasetInfo(
        config_name=config_name,
        features=features,
        splits=splits,
        download_size=download_size,
        dataset_size=dataset_size,
        size_in_bytes=download_size + dataset_size,
    )
    DatasetInfosDict({config_name: info}).to_dataset_card_data(card.data)
    data_files = [{"split": split, "path": f"{data_dir}/{split}-*"} for split in dataset_dict]
    MetadataConfigs({config_name: {"data_files": data_files}}).to_dataset_card_data(card.data)


# ------------------------------------------------------------------------------------------- datasets


def push_dataset(
    dataset_dict,
    target: str,
    config_name: str = "default",
    *,
    card_meta: dict | None = None,
    card_body: str | None = None,
    private: bool = False,
) -> str:
    """Push a `DatasetDict` as config `config_name` of `target`, with its dataset card.

    On the Hub `datasets`' `push_to_hub` lays out the shards (`data/` for the config `default`, `{config}/`
    otherwise) and writes the card's `configs:` and `dataset_info` entries; a local target gets exactly the same
    files. The card (huggingface_hub's `DatasetCard`) then gets `card_meta` (license, task categories, pretty
    name...) merged into its metadata, a license right for all configs, `size_categories` recomputed over all
    configs, and `card_body` as this config's section (other configs' sections are kept). Returns the target.
    """
    from huggingface_hub import DatasetCard

    if config_name == "data":  # push_to_hub refuses it too: the folder `data/` belongs to `default`
        raise HubError("'data' cannot be a config name (its shards would share the folder of 'default')")
    if is_local(target):
        root = _writable_dir(local_path(target))
        readme = root / "README.md"
        card = DatasetCard(readme.read_text() if readme.exists() else "---\n{}\n---\n")
        _write_local_config(root, config_name, dataset_dict, card)
        _merge_card(card, config_name, card_meta, card_body)
        atomic_write_bytes(readme, str(card).encode())
        return target

    check_repo_id(target)
    token = _token_for_write()
    _create_repo(target, "dataset", private)
    with _hub_errors(target, "dataset"), _quiet_datasets():
        dataset_dict.push_to_hub(target, config_name=config_name, token=token, private=private)
        card = DatasetCard.load(target, repo_type="dataset", token=token)
        _merge_card(card, config_name, card_meta, card_body)
        card.push_to_hub(  # validated by the Hub (`/api/validate-yaml`) first
            target, repo_type="dataset", token=token, commit_message=f"Dataset card for config {config_name}"
        )
    return target


def _default_config(configs: dict[str, dict]) -> str | None:
    """The config `load_dataset(repo)` picks: the only one, the one named `default`, or one marked default."""
    if len(configs) == 1:
        return next(iter(configs))
    marked = [name for name, c in configs.items() if name == "default" or c.get("default")]
    return marked[0] if len(marked) == 1 else None


def load_dataset(target: str, config_name: str | None = None, split: str | None = None):
    """Load config `config_name` (and `split`, if given) of a dataset target; with no config name, the config
    `datasets` would pick (the only one, or `default`)."""
    import datasets

    if is_local(target):
        path = local_path(target)
        if not (path / "README.md").exists():
            raise HubError(f"local dataset {path} does not exist (no README.md there)")
        meta, _ = split_card((path / "README.md").read_text())
        configs = {c["config_name"]: c for c in meta.get("configs", [])}
        config_name = config_name or _default_config(configs)
        if config_name not in configs:
            raise HubError(
                f"local dataset {path} has no config {config_name!r}; configs: {', '.join(configs)}"
                if config_name
                else f"local dataset {path} has several configs: name one of {', '.join(configs)}"
            )
        # Load the parquet files themselves: `load_dataset(folder)` caches by the folder's *name*, so two
        # folders both called e.g. "pbe" would share a cache entry; data files are cached by path and mtime.
        data_files = {f["split"]: str(path / f["path"]) for f in configs[config_name]["data_files"]}
        if split is not None and split not in data_files:
            raise HubError(
                f"local dataset {path} config {config_name!r} has no split {split!r}; splits: {', '.join(data_files)}"
            )
        return datasets.load_dataset("parquet", data_files=data_files, split=split)
    check_repo_id(target)
    with _hub_errors(target, "dataset"):
        try:
            return datasets.load_dataset(target, config_name, split=split)
        except datasets.exceptions.DatasetNotFoundError as err:
            raise HubError(f"dataset repo {target!r} does not exist on the Hub (or is private)") from err
        except ConnectionError as err:  # offline (HF_HUB_OFFLINE) and not in the cache, or no network
            raise HubError(
                f"dataset repo {target!r} cannot be reached (offline, or no network) and is not in the cache"
            ) from err
        except ValueError as err:
            if "BuilderConfig" in str(err) or "config" in str(err).lower():
                raise HubError(f"dataset repo {target!r}: {err}") from err
            raise


# ------------------------------------------------------------------------------------ folders and files


def upload_folder(
    folder: str | Path, target: str, *, repo_type: str = "model", message: str = "Upload"
) -> str:
    """Upload the contents of `folder` to `target` (creating the repo if needed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder")
    if is_local(target):
        dst = local_path(target)
        _writable_dir(dst.parent)
        tmp = _fresh_dir(dst.parent, f".{dst.name}.")
        try:
            shutil.copytree(folder, tmp, dirs_exist_ok=True)
            _replace_dir(tmp, dst)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target
    check_repo_id(target)
    _create_repo(target, repo_type)
    with _hub_errors(target, repo_type):
        _api().upload_folder(
            folder_path=str(folder), repo_id=target, repo_type=repo_type, commit_message=message
        )
    return target


def download(target: str, *, repo_type: str = "model", revision: str | None = None) -> Path:
    """Return a local path holding the repo's files (the folder itself for a local target)."""
    if is_local(target):
        path = local_path(target)
        if not path.is_dir():
            raise HubError(f"local {repo_type} {path} does not exist")
        return path
    check_repo_id(target)
    from huggingface_hub import snapshot_download

    with _hub_errors(target, repo_type):
        return Path(snapshot_download(target, repo_type=repo_type, revision=revision))


def exists(target: str, *, repo_type: str = "model") -> bool:
    if is_local(target):
        return local_path(target).is_dir()
    check_repo_id(target)
    with _hub_errors(target, repo_type):
        return _api().repo_exists(target, repo_type=repo_type)


def create(target: str, *, repo_type: str = "dataset", space_sdk: str | None = None) -> str:
    """Create an empty repo (or local folder) if it does not exist yet."""
    if is_local(target):
        _writable_dir(local_path(target))
        return target
    check_repo_id(target)
    _create_repo(target, repo_type, space_sdk=space_sdk)
    return target


def set_space_secret(space_id: str, name: str) -> None:
    """Store the current token as the Space's secret `name` (the Space writes to its datasets with it)."""
    check_repo_id(space_id)
    token = _token_for_write()
    with _hub_errors(space_id, "space"):
        _api().add_space_secret(
            space_id, name, token, description="written by trl-ext leaderboard --deploy", token=token
        )


def write_text(
    target: str,
    path_in_repo: str,
    text: str,
    *,
    repo_type: str = "dataset",
    message: str = "",
    parent_commit: str | None = None,
) -> None:
    """Write one small file into a repo: an atomic rename locally, one commit on the Hub. With `parent_commit`
    (Hub only) the commit is refused with HubConflict when the repo moved on since that commit."""
    check_path_in_repo(path_in_repo)
    if is_local(target):
        atomic_write_bytes(local_path(target) / path_in_repo, text.encode())
        return
    check_repo_id(target)
    token = _token_for_write()
    try:
        with _hub_errors(target, repo_type):
            _api().upload_file(
                path_or_fileobj=io.BytesIO(text.encode()),
                path_in_repo=path_in_repo,
                repo_id=target,
                repo_type=repo_type,
                token=token,
                commit_message=message or f"Write {path_in_repo}",
                parent_commit=parent_commit,
            )
    except HubError as err:
        response = getattr(err.__cause__, "response", None)
        if parent_commit and response is not None and response.status_code == 412:
            raise HubConflict(f"{repo_type} repo {target!r} changed since commit {parent_commit}") from None
        raise


def read_text(
    target: str, path_in_repo: str, *, repo_type: str = "dataset", revision: str | None = None
) -> str:
    check_path_in_repo(path_in_repo)
    if is_local(target):
        path = local_path(target) / path_in_repo
        if not path.is_file():
            raise HubError(f"{describe(target)} has no file {path_in_repo}")
        return path.read_text()
    check_repo_id(target)
    from huggingface_hub import hf_hub_download

    with _hub_errors(target, repo_type):
        return Path(hf_hub_download(target, path_in_repo, repo_type=repo_type, revision=revision)).read_text()


def list_files(
    target: str, prefix: str = "", *, repo_type: str = "dataset", revision: str | None = None
) -> list[str]:
    """Paths of the files in a repo (relative, '/'-separated) that start with `prefix`, sorted; `revision`
    (Hub only): at that commit."""
    if is_local(target):
        root = local_path(target)
        if not root.is_dir():
            return []
        paths = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        return sorted(p for p in paths if p.startswith(prefix) and not Path(p).name.startswith("."))
    check_repo_id(target)
    with _hub_errors(target, repo_type):
        files = _api().list_repo_files(target, repo_type=repo_type, revision=revision)
        return sorted(p for p in files if p.startswith(prefix))


def write_json(
    target: str,
    path_in_repo: str,
    obj: Any,
    *,
    repo_type: str = "dataset",
    message: str = "",
    parent_commit: str | None = None,
) -> None:
    write_text(
        target,
        path_in_repo,
        json.dumps(obj, indent=2, sort_keys=True) + "\n",
        repo_type=repo_type,
        message=message,
        parent_commit=parent_commit,
    )


def read_json(
    target: str, path_in_repo: str, *, repo_type: str = "dataset", revision: str | None = None
) -> Any:
    return json.loads(read_text(target, path_in_repo, repo_type=repo_type, revision=revision))


# ------------------------------------------------------------------- accounts, commits, local weights


def head_commit(repo_id: str, *, repo_type: str = "dataset") -> str:
    """The commit the main branch of a Hub repo points at now (for a later write with `parent_commit`)."""
    check_repo_id(repo_id)
    with _hub_errors(repo_id, repo_type):
        return _api().repo_info(repo_id, repo_type=repo_type).sha


def account_of(token: str) -> str:
    """The Hub account a user token belongs to (the Hub's `whoami`); HubError when the Hub refuses it. The
    token is used for this one call only: never stored, cached or put in a message."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        return _api().whoami(token=token)["name"]
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status == 401:
            raise HubError("the Hub refused this token (invalid or expired)") from None
        raise HubError(f"the Hub could not check the token (HTTP {status})") from None
    except OfflineModeIsEnabled:
        raise HubError("the token cannot be checked: HF_HUB_OFFLINE is set") from None


def weights_sha256(folder: str | os.PathLike) -> str:
    """The sha256 of a local model folder's weight files (`*.safetensors`, `*.bin`, in name order): what
    identifies a local model, whatever its folder is called. HubError when it has no weights."""
    import hashlib

    path = local_path(folder)
    weights = sorted([*path.glob("*.safetensors"), *path.glob("*.bin")])
    if not weights:
        raise HubError(f"{path} holds no weights (*.safetensors or *.bin)")
    digest = hashlib.sha256()
    for file in weights:
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
