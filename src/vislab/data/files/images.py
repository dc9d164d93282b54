"""Image files: which files count as images, reading one as a uint8 tensor, and what makes one unreadable."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Sequence, TypeVar

import numpy as np
import torch

from ...errors import VislabError
from ...threads import usable_cores

T = TypeVar("T")
R = TypeVar("R")

if TYPE_CHECKING:
    from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
MODES = {1: "L", 3: "RGB"}  # channels -> PIL mode
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
WIDE_GRAY_MODES = ("I", "I;16", "I;16B", "I;16L")  # 16-bit PNG and TIFF files (PIL reads some as I)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def image_mode(channels: int | None) -> str | None:
    """PIL mode for ``data.channels`` (None: keep what is stored)."""
    if channels is None:
        return None
    if channels not in MODES:
        raise VislabError(f"data.channels={channels}: images convert to 1 (grayscale) or 3 (RGB) channels")
    return MODES[channels]


def unreadable_errors() -> tuple[type[BaseException], ...]:
    """What PIL raises for a file that is not an image, or a damaged or truncated one."""
    from PIL import Image

    return (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def read_image(path: Path, mode: str | None) -> torch.Tensor:
    """The image at ``path`` fully decoded in PIL ``mode``: uint8 [C, H, W]. Mode "L" or "RGB"; None keeps
    gray images gray and makes every other kind RGB. Raises what ``unreadable_errors`` lists for a bad file.
    Gray and RGB(A) PNG files are decoded by libpng through torchvision where it can (``read_png``): the
    same pixels, as PNG is lossless, in half PIL's time for small files, which is what a folder of
    thumbnails costs."""
    if path.suffix.lower() == ".png":
        fast = read_png(path, mode)
        if fast is not None:
            return fast
    return read_with_pil(path, mode)


def read_with_pil(path: Path, mode: str | None) -> torch.Tensor:
    """``read_image`` by PIL, for every format it knows."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decode now, so a truncated file fails here
        target = mode or ("L" if img.mode in GRAY_MODES else "RGB")
        arr = np.asarray(eight_bit(img).convert(target))
    return torch.from_numpy(arr.copy()).reshape(arr.shape[0], arr.shape[1], -1).permute(2, 0, 1).contiguous()


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_HEAD = 33  # signature, IHDR's length and type, and its 13 bytes of data and CRC
_PNG_COLOURS = {0: True, 4: True, 2: False, 6: False}  # IHDR colour type -> gray; palettes (3) go to PIL
_TORCHVISION_NOTICE = "The image decoding and encoding capabilities of TorchVision are deprecated"


def read_png(path: Path, mode: str | None) -> torch.Tensor | None:
    """A gray or RGB(A) PNG file of 8 bits or fewer decoded by torchvision, as ``read_with_pil`` gives it:
    uint8 [C, H, W], alpha dropped as PIL's conversion drops it. None where PIL must do it: a file that is
    not a valid PNG (PIL says what is wrong), palette images, 16-bit samples (``eight_bit`` scales them),
    colour to gray (PIL and libpng weigh the channels differently), images over PIL's decompression-bomb
    limit, or a torchvision without its PNG decoder (deprecated in 0.29 in favour of TorchCodec)."""
    import warnings

    from PIL import Image

    try:
        from torchvision.io import ImageReadMode, decode_png
    except ImportError:
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(_PNG_HEAD)  # signature and IHDR: enough to decide, so PIL's files are read once
            if len(head) < _PNG_HEAD or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
                return None
            width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            gray = _PNG_COLOURS.get(head[25])
            if gray is None or head[24] > 8 or (mode == "L" and not gray) or width * height > (Image.MAX_IMAGE_PIXELS or float("inf")):
                return None
            data = head + f.read()
    except OSError:
        return None
    warnings.filterwarnings("ignore", _TORCHVISION_NOTICE, DeprecationWarning)  # the fallback above covers its removal
    try:
        image = decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.UNCHANGED)
    except RuntimeError:
        return None
    image = image[:1] if gray else image[:3]
    return image.expand(3, -1, -1).contiguous() if mode == "RGB" and gray else image


def eight_bit(img: "Image.Image") -> "Image.Image":
    """16-bit grayscale scaled to 0..255 (PIL's own conversion clips every value above 255 to white)."""
    from PIL import Image

    if img.mode not in WIDE_GRAY_MODES:
        return img
    wide = np.asarray(img, dtype=np.float64)
    return Image.fromarray(np.clip(np.round(wide / 257), 0, 255).astype(np.uint8))


def image_files(inputs: Iterable[str | Path], skip: Path | None = None) -> list[Path]:
    """Image files named by ``inputs``: files as given, folders searched recursively (sorted, hidden skipped,
    and nothing under ``skip``: the folder predictions go to, whose PNGs are no inputs). A run directory
    is not a folder of images (its PNGs are artifacts and predictions): bad input."""
    files: list[Path] = []
    skipped = skip.resolve() if skip is not None else None
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir() and (path / "config.yaml").is_file() and (path / "checkpoints").is_dir():
            raise VislabError(f"{path} is a run directory, not images; give image files or folders of images")
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and is_image_file(p) and not is_hidden(p) and not _under(p, skipped)
            )
            if not found:
                raise VislabError(f"folder {path} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise VislabError(f"{path} does not exist; give image files or folders of images")
    return files


def _under(path: Path, folder: Path | None) -> bool:
    return folder is not None and path.resolve().is_relative_to(folder)


def prefetched(items: Sequence[T], load: Callable[[T], R], ahead: int = 32, workers: int | None = None) -> Iterator[R]:
    """``load(item)`` for each item, in order, computed up to ``ahead`` items in advance by ``workers`` threads
    (default: one a usable core, up to 8). PIL and zlib release the GIL while they decode, so large files
    decode in parallel with the model's work; small ones are mostly Python, which holds the GIL, and there
    one worker a batch of files does best (more threads only take turns). ``workers=0``: loaded in line, by
    the caller's thread. An exception of ``load`` is raised where its item's result would have been yielded."""
    from concurrent.futures import ThreadPoolExecutor

    if workers == 0:
        yield from map(load, items)
        return
    it = iter(items)
    with ThreadPoolExecutor(workers or max(1, min(8, usable_cores()))) as pool:
        pending = deque(pool.submit(load, item) for _, item in zip(range(ahead), it))
        while pending:
            result = pending.popleft().result()
            for item in it:
                pending.append(pool.submit(load, item))
                break
            yield result


def convert_channels(images: torch.Tensor, channels: Optional[int]) -> torch.Tensor:
    """uint8 [N, C, H, W] as ``channels`` channels: gray repeated to RGB, RGB to luminance (ITU-R 601)."""
    if image_mode(channels) is None or channels == images.shape[1]:  # image_mode checks the setting
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
