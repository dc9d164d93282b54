"""A real PostgreSQL server for a test: the machine's ``initdb`` and ``pg_ctl``, listening only on a Unix
socket in a temporary folder, stopped and removed afterwards. Where PostgreSQL or its Python driver is
absent, the test skips.

PostgreSQL refuses to run as root; as root, the server runs as the ``postgres`` (or ``nobody``) user."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

SEARCH = [os.environ.get("PATH", ""), "/usr/local/bin", *sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin"))]


def postgres_tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join(SEARCH))
    if found is None:
        pytest.skip(f"PostgreSQL's {name} is not installed")
    return found


def server_user() -> pwd.struct_passwd | None:
    """Who runs the server: this user, or an unprivileged one when this is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("running as root, and no unprivileged user to run PostgreSQL as")


def as_user(user: pwd.struct_passwd | None):
    if user is None:
        return None

    def switch() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return switch


def postgres_server() -> Iterator[str]:
    """Start a server; yields its SQLAlchemy URL (plain ``postgresql://``, SQLAlchemy's default driver)."""
    pytest.importorskip("psycopg", reason="the postgres extra (pip install 'vislab[postgres]') is not installed")
    initdb, pg_ctl = postgres_tool("initdb"), postgres_tool("pg_ctl")
    user = server_user()
    home = Path(tempfile.mkdtemp(prefix="vislab-pg-"))  # short: a socket path has a length limit
    if user is not None:
        os.chown(home, user.pw_uid, user.pw_gid)
    data = home / "data"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "preexec_fn": as_user(user), "timeout": 120}
    try:
        made = subprocess.run([initdb, "-D", str(data), "-U", "vislab", "--auth=trust", "-N"], **quiet)
        assert made.returncode == 0, made.stderr
        options = f"-k {home} -c listen_addresses='' -c fsync=off -c max_connections=50"
        started = subprocess.run([pg_ctl, "-D", str(data), "-o", options, "-l", str(home / "log"), "-w", "start"], **quiet)
        assert started.returncode == 0, started.stderr + (home / "log").read_text(errors="replace")
        yield f"postgresql://vislab@/postgres?host={home}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], **quiet)
        shutil.rmtree(home, ignore_errors=True)
