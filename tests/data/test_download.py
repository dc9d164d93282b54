"""Downloads against a real HTTP server on 127.0.0.1: checked sizes and checksums, clean restarts, offline."""

from __future__ import annotations

import gzip
import hashlib
import socket
from pathlib import Path

import pytest

from http_server import Server
from vislab.data.files.download import RemoteFile, fetch
from vislab.errors import VislabError

BODY = bytes(range(256)) * 400  # 100 kB
SHA = hashlib.sha256(BODY).hexdigest()
WHERE = "https://example.org/dataset"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_verified_download_lands_whole(server: Server, tmp_path: Path):
    server.files["a.bin"] = BODY
    path = fetch(RemoteFile("a.bin", [server.url("a.bin")], sha256=SHA, size=len(BODY)), tmp_path, True, WHERE)
    assert path == tmp_path / "a.bin" and path.read_bytes() == BODY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
    again = fetch(RemoteFile("a.bin", [server.url("a.bin")], sha256=SHA), tmp_path, True, WHERE)
    assert again == path and server.requests == ["a.bin"]  # present and verified: not fetched twice


@pytest.mark.parametrize("remote_kw, problem", [
    ({"sha256": "0" * 64}, "sha256 differs from the published " + "0" * 64),
    ({"md5": "f" * 32}, "md5 differs from the published " + "f" * 32),
    ({"size": len(BODY) + 1}, f"size {len(BODY)} bytes, expected {len(BODY) + 1}"),
])
def test_a_mismatch_names_the_file_and_leaves_nothing(server: Server, tmp_path: Path, remote_kw: dict, problem: str):
    server.files["a.bin"] = BODY
    with pytest.raises(VislabError) as e:
        fetch(RemoteFile("a.bin", [server.url("a.bin")], **remote_kw), tmp_path, True, WHERE)
    msg = str(e.value)
    assert e.value.exit_code == 2 and "\n" not in msg
    assert str(tmp_path / "a.bin") in msg and problem in msg and WHERE in msg
    assert list(tmp_path.iterdir()) == []


def test_a_download_cut_short_never_passes_for_whole_and_the_next_run_restarts(server: Server, tmp_path: Path):
    server.files["a.bin"] = BODY
    server.cut.add("a.bin")
    remote = RemoteFile("a.bin", [server.url("a.bin")])  # no checksum: the announced length must catch it
    with pytest.raises(VislabError, match=f"closed after {len(BODY) // 2} of {len(BODY)} bytes"):
        fetch(remote, tmp_path, True, WHERE)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "a.bin.part").write_bytes(BODY[:1000])  # what a killed download leaves
    server.cut.clear()
    assert fetch(remote, tmp_path, True, WHERE).read_bytes() == BODY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_the_next_mirror_is_tried_when_one_fails(server: Server, tmp_path: Path):
    server.files["good/a.bin"] = BODY
    urls = [server.url("missing/a.bin"), f"http://127.0.0.1:{closed_port()}/a.bin", server.url("good/a.bin")]
    assert fetch(RemoteFile("a.bin", urls, sha256=SHA), tmp_path, True, WHERE).read_bytes() == BODY


def test_mirrors_that_recompress_are_checked_on_the_content(server: Server, tmp_path: Path):
    content = b"the same images, compressed twice differently" * 100
    server.files["fast/x.gz"] = gzip.compress(content, compresslevel=1, mtime=0)
    server.files["small/x.gz"] = gzip.compress(content, compresslevel=9, mtime=0)
    assert server.files["fast/x.gz"] != server.files["small/x.gz"]
    digest = hashlib.sha256(content).hexdigest()
    for mirror in ("fast", "small"):
        folder = tmp_path / mirror
        got = fetch(RemoteFile("x.gz", [server.url(f"{mirror}/x.gz")], content_sha256=digest), folder, True, WHERE)
        assert gzip.decompress(got.read_bytes()) == content
    server.files["bad/x.gz"] = gzip.compress(content + b"!")
    with pytest.raises(VislabError, match="decompressed content differs"):
        fetch(RemoteFile("x.gz", [server.url("bad/x.gz")], content_sha256=digest), tmp_path / "bad", True, WHERE)


def test_offline_names_the_file_and_where_to_put_it(tmp_path: Path):
    url = f"http://127.0.0.1:{closed_port()}/a.bin"
    with pytest.raises(VislabError) as e:
        fetch(RemoteFile("a.bin", [url], sha256=SHA), tmp_path, True, WHERE)
    msg = str(e.value)
    assert e.value.exit_code == 2 and "\n" not in msg
    assert "refused" in msg and f"get it from {WHERE} and put it at {tmp_path / 'a.bin'}" in msg
    assert list(tmp_path.iterdir()) == []


def test_downloads_switched_off_say_where_to_put_the_file(tmp_path: Path):
    with pytest.raises(VislabError, match=f"{tmp_path / 'a.bin'} is missing and data.download=false; get it from {WHERE}"):
        fetch(RemoteFile("a.bin", ["http://127.0.0.1:9/a.bin"]), tmp_path, False, WHERE)


def test_a_damaged_file_on_disk_is_named_not_used(tmp_path: Path):
    (tmp_path / "a.bin").write_bytes(BODY[:-1])
    with pytest.raises(VislabError, match=r"a\.bin is damaged \(size 102399 bytes, expected 102400\); delete it"):
        fetch(RemoteFile("a.bin", ["http://127.0.0.1:9/a.bin"], size=len(BODY)), tmp_path, True, WHERE)


# ------------------------------------------------------------------------------------------------
# archives
# ------------------------------------------------------------------------------------------------


def make_tar(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """members: (kind, name, payload): kind 'file' (payload = content), 'sym' or 'hard' (payload = link target)."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tf:
        for kind, name, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload.encode())
                tf.addfile(info, io.BytesIO(payload.encode()))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = payload
                tf.addfile(info)
    return path


def make_zip(path: Path, names: list[str]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(zipfile.ZipInfo(name), b"payload")
    return path


def test_a_well_formed_archive_extracts_with_its_inner_links(tmp_path: Path):
    from vislab.data.files.download import safe_extract

    archive = make_tar(tmp_path / "ok.tar.gz", [("file", "data/a.txt", "A"), ("sym", "data/link", "a.txt"),
                                                ("hard", "data/copy", "data/a.txt")])
    safe_extract(archive, tmp_path / "out")
    out = tmp_path / "out" / "data"
    assert (out / "a.txt").read_text() == "A" and (out / "link").read_text() == "A" and (out / "copy").read_text() == "A"
    assert (out / "link").is_symlink()
    safe_extract(make_zip(tmp_path / "ok.zip", ["z/b.txt"]), tmp_path / "zout")
    assert (tmp_path / "zout" / "z" / "b.txt").read_bytes() == b"payload"


@pytest.mark.parametrize("members, named", [
    ([("file", "fine.txt", "x"), ("file", "/tmp/vislab-abs-escape.txt", "x")], "/tmp/vislab-abs-escape.txt"),
    ([("file", "fine.txt", "x"), ("file", "data/../../escape.txt", "x")], "data/../../escape.txt"),
    ([("file", "fine.txt", "x"), ("sym", "data/link", "../../outside")], "data/link -> ../../outside"),
    ([("file", "fine.txt", "x"), ("sym", "link", "/etc")], "link -> /etc"),
    ([("file", "fine.txt", "x"), ("hard", "data/hard", "../outside.txt")], "data/hard -> ../outside.txt"),
])
def test_a_tar_leading_outside_is_refused_whole(tmp_path: Path, members: list, named: str):
    from vislab.data.files.download import safe_extract

    archive = make_tar(tmp_path / "evil.tar.gz", members)
    target = tmp_path / "a" / "b" / "out"
    with pytest.raises(VislabError) as e:
        safe_extract(archive, target)
    assert f"leading outside {target}: {named}; nothing was extracted" in str(e.value)
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "evil.tar.gz"]
    assert not Path("/tmp/vislab-abs-escape.txt").exists()


@pytest.mark.parametrize("name", ["/tmp/vislab-abs-escape.txt", "../escape.txt", "data/../../escape.txt"])
def test_a_zip_leading_outside_is_refused_whole(tmp_path: Path, name: str):
    from vislab.data.files.download import safe_extract

    archive = make_zip(tmp_path / "evil.zip", ["fine.txt", name])
    target = tmp_path / "a" / "out"
    with pytest.raises(VislabError, match="nothing was extracted"):
        safe_extract(archive, target)
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "evil.zip"]
