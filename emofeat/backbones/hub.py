"""Hub weights as a local file: the cache first, then a quick reachability probe, then one
quiet download.

Without a network, timm's own download retries for most of a minute and logs every retry.
Here the local cache (Hugging Face's, or torch hub's for URL-only weights) is looked up
offline first; otherwise the endpoint (``HF_ENDPOINT`` or the default) must answer within
:data:`PROBE_SECONDS`, and the download runs with the retry warnings of huggingface_hub and
urllib3 silenced. Every failure is one :class:`HubUnavailable` line naming the reason.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PROBE_SECONDS = 3.0
HF_FILES = ("model.safetensors", "pytorch_model.bin")  # timm's order of preference
QUIET_LOGGERS = ("huggingface_hub", "urllib3", "filelock", "timm")


class HubUnavailable(Exception):
    """The hub file could not be had; the message is the reason, one line."""


@dataclass(frozen=True)
class HubFile:
    path: Path  # the local copy
    origin: str  # hub id or URL, as recorded in store.json and run.json


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the retry warnings and log lines of the download libraries for a while."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _head(url: str, answer: list[str | None]) -> None:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"),
                               timeout=PROBE_SECONDS).close()
        answer.append(None)
    except urllib.error.HTTPError:
        answer.append(None)  # a server answered (401, 404, ...): the network is there
    except (urllib.error.URLError, OSError, ValueError) as exc:
        answer.append(str(getattr(exc, "reason", exc)))


def probe(url: str) -> str | None:
    """None if a server answers at ``url`` within :data:`PROBE_SECONDS`, else why not.

    Runs in a thread so that a hanging name lookup cannot hold it either."""
    answer: list[str | None] = []
    thread = threading.Thread(target=_head, args=(url, answer), daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS + 0.5)
    if not answer:
        return f"{url} did not answer within {PROBE_SECONDS:g} s"
    return None if answer[0] is None else f"{url} is unreachable: {answer[0]}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def _from_hf(hub_id: str, filename: str | None,
             candidates: tuple[str, ...] = HF_FILES) -> HubFile:
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError

    repo, _, revision = hub_id.partition("@")
    names = (filename,) if filename else candidates
    for name in names:
        cached = try_to_load_from_cache(repo, name, revision=revision or None)
        if isinstance(cached, str):
            return HubFile(Path(cached), hub_id)
    if constants.HF_HUB_OFFLINE:
        raise HubUnavailable("HF_HUB_OFFLINE is set and they are not in the local cache")
    if why := probe(constants.ENDPOINT):
        raise HubUnavailable(why)
    with quiet():
        for name in names:
            try:
                path = hf_hub_download(repo, name, revision=revision or None)
            except EntryNotFoundError:
                continue
            except Exception as exc:
                raise HubUnavailable(_first_line(exc)) from None
            return HubFile(Path(path), hub_id)
    raise HubUnavailable(f"{repo} has none of {', '.join(names)}")


def _from_url(url: str) -> HubFile:
    import torch.hub

    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    if not path.is_file():
        if why := probe(url):
            raise HubUnavailable(why)
        path.parent.mkdir(parents=True, exist_ok=True)
        with quiet():
            try:
                torch.hub.download_url_to_file(url, str(path), progress=False)
            except Exception as exc:
                raise HubUnavailable(_first_line(exc)) from None
    return HubFile(path, url)


def hub_file(model_name: str) -> HubFile:
    """The local file of a timm model's default pretrained weights (downloaded if needed)."""
    from timm.models import get_pretrained_cfg

    cfg: Any = get_pretrained_cfg(model_name)
    hub_id, url = getattr(cfg, "hf_hub_id", None), getattr(cfg, "url", None)
    if hub_id:  # as timm does: the Hugging Face hub where it has them, else the URL
        return _from_hf(hub_id, cfg.hf_hub_filename)
    if url:
        return _from_url(url)
    raise HubUnavailable("timm knows no pretrained weights for it")


def hf_file(repo: str, names: tuple[str, ...]) -> HubFile:
    """The first of ``names`` a Hugging Face repository has, as a local file."""
    return _from_hf(repo, None, names)


def url_file(url: str) -> HubFile:
    """A file at ``url``, as a local file (torch hub's cache)."""
    return _from_url(url)
