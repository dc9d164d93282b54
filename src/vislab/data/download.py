"""Downloads and archives: checked against known sizes and checksums, restartable, extracted safely.

Offline is normal: a file that is absent and cannot be fetched is bad input naming the file, where to
get it and where to put it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..errors import VislabError


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where it comes from and what it must hash to."""

    name: str
    urls: Sequence[str]
    md5: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, remote: RemoteFile) -> Optional[str]:
    """None when ``path`` matches the expected size and checksums, else what is wrong."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"size {size} bytes, expected {remote.size}"
    for algorithm in ("sha256", "md5"):
        expected = getattr(remote, algorithm)
        if expected and file_digest(path, algorithm) != expected:
            return f"{algorithm} differs from the published {expected}"
    return None


def fetch(remote: RemoteFile, folder: Path, download: bool, where_to_get: str) -> Path:
    """``folder/remote.name``, downloaded when absent (and allowed) and always checked.

    The download goes to ``NAME.part`` and is renamed only once complete and verified, so an
    interrupted download never passes for a whole file and the next attempt starts clean.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / remote.name
    if path.is_file():
        problem = verify(path, remote)
        if problem is None:
            return path
        raise VislabError(f"{path} is damaged ({problem}); delete it and run again to download it anew")
    if not download:
        raise VislabError(f"{path} is missing and data.download=false; get it from {where_to_get} and put it there")
    part = folder / (remote.name + ".part")
    errors = []
    for url in remote.urls:
        part.unlink(missing_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
                shutil.copyfileobj(response, out, length=1 << 20)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        problem = verify(part, remote)
        if problem is not None:
            errors.append(f"{url}: {problem}")
            continue
        os.replace(part, path)
        return path
    part.unlink(missing_ok=True)
    raise VislabError(
        f"{path} is missing and could not be downloaded ({errors[-1] if errors else 'no URL to try'}); "
        f"get it from {where_to_get} and put it at {path}"
    )


def _within(target: Path, path: Path) -> bool:
    path = path.resolve()
    return path == target or target in path.parents


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a tar or zip archive into ``target``, refusing members that would land outside it.

    Absolute paths, ``..`` components, links (symbolic or hard) pointing outside the target and
    device files are bad input naming the member; nothing is extracted from such an archive.
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    refuse = f"archive {archive} has a member leading outside {target}"
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if os.path.isabs(name) or name.startswith("\\") or not _within(target, target / name):
                    raise VislabError(f"{refuse}: {name}; nothing was extracted")
            zf.extractall(target)
        return
    try:
        tf = tarfile.open(archive)
    except (tarfile.TarError, OSError) as e:
        raise VislabError(f"{archive} is not a readable tar or zip archive ({e}); delete it and download it again") from None
    with tf:
        members = tf.getmembers()
        for m in members:
            if os.path.isabs(m.name) or not _within(target, target / m.name):
                raise VislabError(f"{refuse}: {m.name}; nothing was extracted")
            if m.issym() or m.islnk():
                dest = ((target / m.name).parent if m.issym() else target) / m.linkname
                if os.path.isabs(m.linkname) or not _within(target, dest):
                    raise VislabError(f"{refuse}: {m.name} -> {m.linkname}; nothing was extracted")
            elif not (m.isfile() or m.isdir()):
                raise VislabError(f"archive {archive} has a special file {m.name}; nothing was extracted")
        if hasattr(tarfile, "data_filter"):
            tf.extractall(target, members=members, filter="data")
        else:
            tf.extractall(target, members=members)
