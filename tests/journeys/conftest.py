"""The journeys' class-scoped fixtures: one user folder, one training and one export per journey class, made by
the class's own hooks (journey.Journey.train_first, train_second, write_photos)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from journeys.user import User, check_masks


@pytest.fixture(scope="class")
def user(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> User:
    return User(tmp_path_factory.mktemp(request.cls.recipe))


@pytest.fixture(scope="class")
def trained(request: pytest.FixtureRequest, user: User) -> tuple[subprocess.CompletedProcess, Path]:
    return request.cls.train_first(user)


@pytest.fixture(scope="class")
def run(trained: tuple[subprocess.CompletedProcess, Path]) -> Path:
    return trained[1]


@pytest.fixture(scope="class")
def second(request: pytest.FixtureRequest, user: User, run: Path) -> Path:
    return request.cls.train_second(user, run)


@pytest.fixture(scope="class")
def exported(user: User, run: Path) -> str:
    """What `vislab export RUN` printed."""
    return user.ok("export", run).stdout


@pytest.fixture(scope="class")
def photos(request: pytest.FixtureRequest, user: User) -> list[Path]:
    return request.cls.write_photos(user.home / "photos")


@pytest.fixture(scope="class")
def eager_predictions(user: User, run: Path, photos: list[Path]) -> Path:
    """A classifier's `vislab predict RUN FOLDER --out FILE.csv` with its checkpoint, before any calibration."""
    out = user.home / "eager.csv"
    user.ok("predict", run, photos[0].parent, "--out", out)
    return out


@pytest.fixture(scope="class")
def eager_masks(request: pytest.FixtureRequest, user: User, run: Path, photos: list[Path]) -> dict[str, Any]:
    """A segmentation run's `vislab predict RUN FOLDER --out DIR` with its checkpoint: the masks by image."""
    out = user.home / "eager"
    user.ok("predict", run, photos[0].parent, "--out", out)
    return check_masks(out, photos, num_classes=4, panoptic=request.cls.panoptic)
