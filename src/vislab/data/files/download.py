"""Downloads and archives: checked against known sizes and checksums, restartable, extracted safely.

Offline is normal: a file that is absent and cannot be fetched is bad input naming the file, where to
get it and where to put it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ...errors import VislabError


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where it comes from and what it must hash to.

    ``content_sha256`` is the checksum of the gzip-decompressed content, for files that mirrors
    re-compress (the bytes differ between mirrors, the content does not).
    """

    name: str
    urls: Sequence[str]
    md5: Optional[str] = None
    sha256: Optional[str] = None
    sha1: Optional[str] = None
    size: Optional[int] = None
    content_sha256: Optional[str] = None


def file_digest(path: Path, algorithm: str, gunzip: bool = False) -> str:
    h = hashlib.new(algorithm)
    with (gzip.open if gunzip else open)(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, remote: RemoteFile) -> Optional[str]:
    """None when ``path`` matches the expected size and checksums, else what is wrong."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"size {size} bytes, expected {remote.size}"
    for algorithm in ("sha256", "sha1", "md5"):
        expected = getattr(remote, algorithm)
        if expected and file_digest(path, algorithm) != expected:
            return f"{algorithm} differs from the published {expected}"
    if remote.content_sha256:
        try:
            digest = file_digest(path, "sha256", gunzip=True)
        except (OSError, EOFError, gzip.BadGzipFile):
            return "it is not a whole gzip file"
        if digest != remote.content_sha256:
            return f"sha256 of the decompressed content differs from the published {remote.content_sha256}"
    return None


def stream_to(url: str, out: Path) -> None:
    """Stream ``url`` into ``out``; a body shorter than the announced length is an error, not a file."""
    with urllib.request.urlopen(url, timeout=60) as response, open(out, "wb") as f:
        shutil.copyfileobj(response, f, length=1 << 20)
        announced = response.headers.get("Content-Length")
        received = f.tell()
    if announced is not None and announced.isdigit() and received != int(announced):
        raise OSError(f"the connection closed after {received} of {announced} bytes")


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
    error = _download(remote, path)
    if error is not None:
        raise VislabError(
            f"{path} is missing and could not be downloaded ({error}); get it from {where_to_get} and put it at {path}"
        )
    return path


def fetch_all(remotes: Sequence[RemoteFile], folder: Path, download: bool, where_to_get: str) -> list[Path]:
    """Every file of a dataset, as ``fetch`` gets one; when files are missing and cannot be had, one
    error naming all of them, where to get them and the folder to put them in."""
    missing = [r for r in remotes if not (folder / r.name).is_file()]
    error = "data.download=false" if missing and not download else None
    for remote in missing if error is None else ():
        failure = _download(remote, folder / remote.name)
        error = f"the download failed: {failure}" if failure else None
        if error:
            break
    if error:
        names = ", ".join(r.name for r in remotes if not (folder / r.name).is_file())
        raise VislabError(f"{names} missing from {folder} ({error}); get them from {where_to_get} and put them in {folder}")
    return [fetch(r, folder, download, where_to_get) for r in remotes]


def _download(remote: RemoteFile, path: Path) -> Optional[str]:
    """Download ``remote`` to ``path`` via ``path.part``, trying each URL; None on success, else the last error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(remote.name + ".part")
    errors = []
    for url in remote.urls:
        part.unlink(missing_ok=True)
        try:
            stream_to(url, part)
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError, ValueError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        problem = verify(part, remote)
        if problem is not None:
            errors.append(f"{url}: {problem}")
            continue
        os.replace(part, path)
        return None
    part.unlink(missing_ok=True)
    return errors[-1] if errors else "no address is known"


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
