"""`vislab board [RUNS_DIR] [--port P]`: a local, read-only dashboard of runs and sweeps.

Served with the standard library on 127.0.0.1 only; the page (board.html) carries its own CSS and JavaScript
and draws its charts as SVG, so it needs nothing from the network. It polls the JSON endpoints every two
seconds, so runs that are training show up and grow live:

    GET /                                  the page
    GET /api/experiments                   every sweep (RUNS/sweeps/NAME) and every recipe's loose runs
    GET /api/experiment?id=ID[&metric=M][&baseline=LABEL]
                                           its groups (every setting but the seed), each group's mean curve and
                                           ±1 std band over seeds, and the comparison table against LABEL's
                                           method, within each value of the data-defining keys (as compare does),
                                           and where the runs kept per-image records, the per-class differences
                                           from the baseline with the classes that gained and lost
Nothing is written; any other method or path is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

from ...errors import VislabError
from ...runs import Run, find_runs

PAGE = Path(__file__).with_name("board.html")
HOST = "127.0.0.1"


class CachedRun(Run):
    """A run whose config is read once (config.yaml does not change after a run starts; history does)."""

    @cached_property
    def config(self) -> Any:  # type: ignore[override]
        return Run.config.fget(self)


class Board:
    """What the endpoints answer, from the runs under ``root`` as they are on disk at each request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs: dict[Path, CachedRun] = {}
        self.lock = threading.Lock()

    def experiments(self) -> dict[str, list[Run]]:
        """Sweeps by 'sweeps/NAME', loose runs by their recipe folder's name."""
        found: dict[str, list[Run]] = {}
        with self.lock:
            for run in find_runs(self.root):
                path = run.dir.resolve()
                cached = self.runs.setdefault(path, CachedRun(path))
                rel = path.relative_to(self.root.resolve()).parts
                key = "/".join(rel[:2]) if rel[0] == "sweeps" and len(rel) > 2 else rel[0] if len(rel) > 1 else "."
                found.setdefault(key, []).append(cached)
        return found

    def listing(self) -> list[dict[str, Any]]:
        return [{"id": key, "runs": len(runs), "running": sum(r.summary.get("status") == "running" for r in runs)}
                for key, runs in sorted(self.experiments().items())]

    def experiment(self, key: str, metric: Optional[str], baseline: Optional[str]) -> dict[str, Any]:
        from ..compare.comparison import (
            comparison_rows, default_metrics, families, group_runs, metric_mode, run_seed, stratum_keys,
        )
        from ..compare.per_class import class_table
        from .comparison import TABLE_HEADER, class_sentences, curve_band, group_curves, table_cells, without_nan

        runs = self.experiments().get(key)
        if runs is None:
            raise KeyError(key)
        groups, keys = group_runs(runs)
        names = sorted({k for r in runs for row in r.history[:1] for k in row if k.startswith("val_")})
        metric = metric if metric in names else (default_metrics(runs)[0] if runs[0].summary else (names or ["val_loss"])[0])
        base = next((g for g in groups if g.label == baseline), groups[0])
        out_groups = []
        for g in groups:
            epochs, curves = group_curves(g, metric)
            mean, low, high = curve_band(curves, "std") if epochs else ([], [], [])
            out_groups.append({
                "label": g.label, "epochs": epochs, "mean": _list(mean), "low": _list(low), "high": _list(high),
                "runs": [{"name": r.dir.name, "seed": r.summary.get("seed"), "status": r.summary.get("status", "starting"),
                          "epochs": len(r.history)} for r in g.runs],
            })
        found = families(groups, keys, baseline_group=base)
        mode = metric_mode(metric, runs)
        rows = comparison_rows(found, metric, mode)
        per_class = class_table(found, metric, mode, run_seed)[0]
        classes = None if per_class is None else {
            "metric": per_class.metric, "classes": per_class.classes, "summary": class_sentences(per_class),
            "rows": [without_nan(dataclasses.asdict(r)) for r in per_class.rows if r.diff]}
        return {"id": key, "keys": keys, "strata": stratum_keys(keys), "metric": metric, "metrics": names, "baseline": base.label,
                "groups": out_groups, "table": {"header": TABLE_HEADER, "rows": [table_cells(r) for r in rows]},
                "classes": classes}


def _list(values: Any) -> list[Optional[float]]:
    return [None if math.isnan(float(v)) else float(v) for v in values]


def make_handler(board: Board) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                if url.path == "/":
                    self.send(PAGE.read_bytes(), "text/html; charset=utf-8")
                elif url.path == "/api/experiments":
                    self.send_json(board.listing())
                elif url.path == "/api/experiment":
                    self.send_json(board.experiment(query.get("id", ""), query.get("metric"), query.get("baseline")))
                else:
                    self.send_error(HTTPStatus.NOT_FOUND)
            except KeyError:
                self.send_error(HTTPStatus.NOT_FOUND, "no such experiment")
            except VislabError as e:
                self.send_json({"error": str(e)}, HTTPStatus.UNPROCESSABLE_ENTITY)

        def refuse(self) -> None:
            self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "the board is read-only")

        do_POST = do_PUT = do_DELETE = do_PATCH = refuse  # noqa: N815

        def send_json(self, doc: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
            self.send(json.dumps(doc, default=str).encode(), "application/json", status)

        def send(self, body: bytes, kind: str, status: HTTPStatus = HTTPStatus.OK) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # polling every 2 s would flood the terminal
            return

    return Handler


def make_server(runs_dir: str | Path, port: int = 6006) -> ThreadingHTTPServer:
    """The board's server on 127.0.0.1:``port`` (0: any free port), not yet serving."""
    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        raise VislabError(f"{root} does not exist; give the runs directory (default ./runs or $VISLAB_RUNS)")
    if not 0 <= port <= 65535:
        raise VislabError(f"--port must be between 0 and 65535, not {port}")
    try:
        return ThreadingHTTPServer((HOST, port), make_handler(Board(root)))
    except OSError as e:
        raise VislabError(f"cannot listen on {HOST}:{port}: {e.strerror}; choose another --port") from None
