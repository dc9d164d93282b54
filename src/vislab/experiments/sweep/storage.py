"""The study's database: its URL (study.db in the sweep directory, or --storage), opening it through
SQLAlchemy with heartbeats, and what to install when its driver is missing."""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from ...errors import VislabError
from ...runs import default_runs_dir

HEARTBEAT_S = 20  # a RUNNING trial whose heartbeat is older than GRACE_S is failed by the next --resume


GRACE_S = 90


@contextmanager
def quiet_heartbeats() -> Iterator[None]:
    """Optuna warns that heartbeats are experimental and meant for Study.optimize; we record them ourselves."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield


def sweeps_dir(runs_dir: Optional[str | Path]) -> Path:
    return Path(runs_dir).expanduser() if runs_dir else default_runs_dir()


def default_storage(sweep_dir: Path) -> str:
    return f"sqlite:///{sweep_dir.resolve() / 'study.db'}"


def storage_url(sweep_dir: Path, given: Optional[str]) -> str:
    """The study's database: ``given``, or study.db in the sweep directory. A sweep opened with --storage
    leaves a note (storage.txt, password hidden) so that forgetting the flag later is not a fresh start."""
    note = sweep_dir / "storage.txt"
    if given is None and note.is_file():
        raise VislabError(f"sweep {sweep_dir.name} keeps its study in {note.read_text().strip()}; pass that --storage URL")
    return given or default_storage(sweep_dir)


def masked(url: str) -> str:
    """A database URL with its password hidden, for messages and notes."""
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def open_storage(url: str) -> Any:
    """An RDBStorage with heartbeats (SQLite waits up to a minute for a lock held by another process)."""
    import optuna
    import sqlalchemy

    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    try:
        for attempt in range(5):
            try:
                with quiet_heartbeats():
                    return optuna.storages.RDBStorage(
                        url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
                    )
            except sqlalchemy.exc.IntegrityError:
                # Workers started together on a fresh database each create Optuna's tables; all but one lose
                # that race (PostgreSQL: a duplicate pg_type row). The tables exist then: open them again.
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))
    except ImportError:
        raise VislabError(f"cannot open --storage {masked(url)}: its database driver is not installed; {driver_hint(url)}") from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VislabError(f"cannot open --storage {masked(url)}: {first}") from None


def check_storage_url(url: str) -> None:
    """A --storage URL that SQLAlchemy can parse and whose driver is installed (checked before anything is
    created; connecting comes later)."""
    import sqlalchemy

    try:
        sqlalchemy.engine.make_url(url).get_dialect().import_dbapi()
    except ImportError:
        raise VislabError(f"cannot open --storage {masked(url)}: its database driver is not installed; {driver_hint(url)}") from None
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as e:
        raise VislabError(f"--storage {masked(url)} is not a database URL SQLAlchemy knows ({e}); e.g. postgresql://user@host/db") from None


def driver_hint(url: str) -> str:
    """How to install the driver a database URL needs."""
    if url.startswith("postgresql"):
        return "pip install 'vislab[postgres]'"
    return "install the driver SQLAlchemy names for it (https://docs.sqlalchemy.org/en/20/dialects/)"
