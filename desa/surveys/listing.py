"""Names in an archive folder: an Apache-style HTML index over http(s), a directory for file://.

Both archives serve their trees this way (MAST's Kepler tree, data_sources.md §2.1; our LAMOST
mirrors, docs/contracts.md "Mirror layout"), so the surveys' clients share one reader.
An entry whose name is a path once unquoted (`..%2F..%2Fx`, `%2Fetc%2Fx`) is left out with a
warning: the clients save each entry under its name, which must stay inside its folder.
"""

from __future__ import annotations

import logging
import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests

from storage.names import plain_name_problem

log = logging.getLogger(__name__)


class _Links(HTMLParser):
    """The href of every anchor of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def local_folder(url: str) -> Path | None:
    """The folder a file:// URL names; None for other schemes."""
    parts = urlsplit(url)
    return Path(url2pathname(parts.path)) if parts.scheme == "file" else None


def folder_names(url: str, session: requests.Session, timeout_s: float) -> list[str]:
    """Entry names of the folder at ``url`` (folders without their trailing slash); [] when
    the folder does not exist.

    Raises ``requests.RequestException`` (or ``OSError`` for file://) when the listing cannot
    be read.
    """
    folder = local_folder(url)
    if folder is not None:
        return sorted(os.listdir(folder)) if folder.is_dir() else []
    response = session.get(url, timeout=timeout_s)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    parser = _Links()
    parser.feed(response.text)
    names = {unquote(urlsplit(href).path.rstrip("/").rpartition("/")[2]) for href in parser.hrefs}
    return sorted(n for n in names if n not in ("", ".", "..") and _plain(n, url))


def _plain(name: str, url: str) -> bool:
    problem = plain_name_problem(name)
    if problem is not None:
        log.warning("%s: listing entry %r %s; left out", url, name, problem)
    return problem is None
