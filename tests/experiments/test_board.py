"""`vislab board` in a real headless browser (Debian's chromium through selenium): experiments listed, curves
grouped with bands, a group's comparison table on a click, live updates; and the compare report.html opened
in the same browser. Without a browser (chromium and chromium-driver; `make test` installs them as root) the
browser tests skip and say so."""

from __future__ import annotations

import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from compare_runs import write_run
from vislab.experiments.report.board import make_server

WAIT_S = 60  # the machine may be busy


def browser_paths() -> tuple[str, str] | None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    paths = browser_paths()
    if paths is None:
        pytest.skip("no headless browser: install chromium and chromium-driver (make test does so as root)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[board]')")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)  # a given driver: nothing is downloaded
    yield driver
    driver.quit()


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "runs"
    for name, values in (("adam", [0.90, 0.92]), ("sgd", [0.85, 0.86])):
        for seed, value in enumerate(values):
            write_run(root / "digits", name, seed, value)
    server = make_server(root, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    server.shutdown()
    server.server_close()


def wait_for(driver: object, condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    from selenium.common.exceptions import StaleElementReferenceException

    while time.monotonic() < deadline:
        try:
            if condition(driver):
                return
        except StaleElementReferenceException:  # the page re-rendered while we read it (it polls): read again
            pass
        time.sleep(0.2)
    raise AssertionError(f"the page never showed {what}: {driver.find_element('tag name', 'body').text[:500]}")


def test_the_board_groups_curves_compares_on_a_click_and_updates_live(browser, board):
    url, root = board
    browser.get(url)
    wait_for(browser, lambda d: "optim.name=sgd (n=2)" in d.find_element("id", "legend").text, "the groups")
    assert "digits (4 runs)" in browser.find_element("id", "experiments").text
    assert len(browser.find_elements("css selector", "#chart polyline.mean")) == 2  # one mean curve per group
    assert len(browser.find_elements("css selector", "#chart polygon.band")) == 2  # and its ±1 std band
    assert "compared with optim.name=adam" in browser.find_element("id", "table-title").text
    browser.find_element("css selector", '#legend [data-group="optim.name=sgd"]').click()
    wait_for(browser, lambda d: "compared with optim.name=sgd" in d.find_element("id", "table-title").text, "the sgd table")
    rows = browser.find_elements("css selector", "#table tr")
    assert any(r.text.startswith("optim.name=adam") and "+0.0550" in r.text for r in rows)  # 0.91 - 0.855

    live = write_run(root / "digits", "adam", 2, 0.91, status="running")  # a third seed appears while the page is open
    wait_for(browser, lambda d: "optim.name=adam (n=3)" in d.find_element("id", "legend").text, "the new run")
    live.write_history([*live.history, {"epoch": 3, "lr": 0.001, "train_loss": 0.4, "val_loss": 0.05, "val_acc": 0.95, "seconds": 1.0}])
    wait_for(browser, lambda d: any(r.text.endswith(live.dir.name) and " 3 " in f" {r.text} "
                                    for r in d.find_elements("css selector", "#runs tr")), "the new epoch")
    assert "digits (5 runs, 1 running)" in browser.find_element("id", "experiments").text


def test_the_compare_report_opens_in_the_browser_with_its_images(browser, board, main, tmp_path):
    _, root = board
    code, _, err = main("compare", root, "--out", tmp_path / "report")
    assert code == 0, err
    browser.get((tmp_path / "report" / "report.html").as_uri())
    images = browser.find_elements("tag name", "img")
    assert len(images) == 2 and all(browser.execute_script("return arguments[0].naturalWidth", i) > 300 for i in images)
    assert "optim.name=sgd" in browser.find_element("tag name", "table").text


def test_the_board_is_read_only_and_local(board, main, tmp_path):
    url, _ = board
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url + "api/experiments", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 405
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "api/experiment?id=../../etc", timeout=30)
    assert missing.value.code == 404
    code, _, err = main("board", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err


def test_the_board_compares_within_each_test_domain_as_compare_does(tmp_path):
    """`vislab board` as a user starts it: a leave-one-domain-out sweep's table compares each group with the
    baseline method on its own test domain, never with another domain's baseline."""
    import json
    import os
    import subprocess
    import sys

    import vislab

    root = tmp_path / "runs"
    values = {("original", 0.01): [0.90, 0.92, 0.91], ("original", 0.001): [0.85, 0.88, 0.86],
              ("thick_rotated", 0.01): [0.50, 0.55, 0.52], ("thick_rotated", 0.001): [0.60, 0.62, 0.65]}
    for (domain, lr), accs in values.items():
        for seed, acc in enumerate(accs):
            write_run(root, "adam", seed, acc, recipe="digits-dg", **{"data.test_domain": domain, "optim.lr": lr})
    env = {**os.environ, "PYTHONPATH": str(Path(vislab.__file__).parents[1]), "PYTHONUNBUFFERED": "1"}
    board = subprocess.Popen([sys.executable, "-m", "vislab", "board", str(root), "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = board.stdout.readline().split()[2]  # "vislab board: http://127.0.0.1:PORT/ (read-only; ...)"
        query = "api/experiment?id=digits-dg&metric=val_acc&baseline=data.test_domain%3Doriginal+optim.lr%3D0.01"
        with urllib.request.urlopen(url + query, timeout=WAIT_S) as response:
            doc = json.load(response)
    finally:
        board.terminate()
        board.wait(timeout=WAIT_S)
    rows = {r[0]: r for r in doc["table"]["rows"]}
    delta, verdict = doc["table"]["header"].index("Δ vs baseline [95% CI]"), doc["table"]["header"].index("verdict")
    assert rows["data.test_domain=original optim.lr=0.01"][verdict] == "baseline"
    assert rows["data.test_domain=thick_rotated optim.lr=0.01"][verdict] == "baseline"  # its own domain's baseline
    assert rows["data.test_domain=thick_rotated optim.lr=0.001"][delta].startswith("+0.1000 [")  # 0.6233 - 0.5233
    assert rows["data.test_domain=original optim.lr=0.001"][delta].startswith("-0.0467 [")  # 0.8633 - 0.91
    assert doc["strata"] == ["data.test_domain"]  # the page's title says "within each data.test_domain"


def test_the_board_draws_per_class_differences_and_names_the_class_lost(browser, tmp_path):
    import numpy as np

    from vislab import records

    root = tmp_path / "runs"
    labels = np.arange(400) % 4
    for seed in range(2):
        for name, lost in (("adam", None), ("sgd", 2)):
            right = np.roll((np.arange(400) // 4) % 10 < 8, seed)
            if lost is not None:
                right[labels == lost] = False
            run = write_run(root / "digits", name, seed, 0.9)
            records.write(run.dir, "val", [{"index": np.arange(400), "label": labels.astype(np.int32), "correct": right}])
    server = make_server(root, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        wait_for(browser, lambda d: "lost 2 -0.8000" in d.find_element("id", "classes-summary").text, "the class lost")
        assert "val_acc per class, against the baseline" in browser.find_element("id", "classes-title").text
        lost = browser.find_elements("css selector", '#classes svg[data-group="optim.name=sgd"] circle.lost')
        assert [c.get_attribute("data-class") for c in lost] == ["2"]
        assert len(browser.find_elements("css selector", "#classes circle.unchanged")) == 3
    finally:
        server.shutdown()
        server.server_close()
