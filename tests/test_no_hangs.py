"""Nothing hangs: a wrong scheduler address, Ctrl-C on a pooled run, an oversized sweep.

Each test has a hard bound on its own time, so a regression fails instead of stalling CI.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from waifang.scenarios import runner
from waifang.scenarios.cli import main

SMALL = Path(__file__).parent / "data" / "small.toml"


def test_scheduler_address_where_an_http_server_answers_fails_in_time(tmp_path, capsys,
                                                                      monkeypatch):
    """Dask's Client waits for ever for a handshake an HTTP server never sends (the dashboard
    port is the usual mistake); the probe gives up within the connect timeout plus grace."""
    pytest.importorskip("distributed")
    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # the test reads stderr
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(runner, "DASK_CONNECT_TIMEOUT", "2s")
        address = f"tcp://127.0.0.1:{server.server_address[1]}"
        started = time.monotonic()
        code = main(["run", str(SMALL), "--out", str(tmp_path / "o"), "--quiet",
                     "--scheduler", address])
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: --scheduler: no Dask scheduler answered at {address!r} within 4 s "
        "(something else may listen there: a scheduler listens on 8786 by default, "
        "its dashboard on 8787)"
    ]
    assert elapsed < 15, elapsed


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_ctrl_c_stops_a_pooled_run_quickly_and_keeps_earlier_output(tmp_path):
    text = SMALL.read_text()
    for old, new in (("accounts = 3000", "accounts = 40000"), ("days = 60", "days = 180"),
                     ("replications = 2", "replications = 6")):
        text = text.replace(old, new, 1)
    scenario = tmp_path / "long.toml"
    scenario.write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    earlier = {"summary.csv": "policy,replication\nearlier,0\n", "manifest.json": "{}\n",
               "notes.txt": "mine\n"}
    for name, body in earlier.items():
        (out / name).write_text(body)

    # A new session, so the signal goes to the whole group as a terminal's Ctrl-C does.
    proc = subprocess.Popen(
        [sys.executable, "-m", "waifang.scenarios.cli", "run", str(scenario), "--out",
         str(out), "--workers", "2", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        assert len(_children(proc.pid)) >= 2, "the worker pool never started"
        workers = [pid for pid in _children(proc.pid) if b"spawn_main" in _cmdline(pid)]
        time.sleep(2.0)  # the workers are now inside a replication
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGINT)
        started = time.monotonic()
        stdout, stderr = proc.communicate(timeout=30)
        stopped = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "interrupted", stderr
    assert stopped < 2.0, f"took {stopped:.1f} s to stop"
    assert workers
    for pid in workers:  # no worker left running (gone, or a zombie awaiting its reaper)
        assert _cmdline(pid) == b"", pid
    for name, body in earlier.items():
        assert (out / name).read_text() == body
    # No .part file left behind; the unfinished run's units wait in the checkpoint folder
    # for --resume.
    assert sorted(p.name for p in out.iterdir() if p.name != ".waifang-partial") == sorted(
        earlier
    )


CANDIDATES = """account_id,option,region,value,cost
a,visit,north,1840,420
b,visit,north,1200,420
c,visit,south,700,380
c,agency,south,300,60
"""


@pytest.fixture
def tables(tmp_path):
    (tmp_path / "C.csv").write_text(CANDIDATES)
    (tmp_path / "K.csv").write_text("region,option,limit\nnorth,visit,1\n")
    return ["frontier", "--candidates", str(tmp_path / "C.csv"), "--capacity",
            str(tmp_path / "K.csv")]


@pytest.mark.parametrize(
    "budgets, scales, out, fragment",
    [
        ("1000:5000:1e9", "1", "F.csv", "--budgets N: at most 500 points, got '1e9'"),
        ("1000:5000:30", ",".join(["1"] * 20), "F.csv",
         "--budgets x --capacity-scales: 30 x 20 = 600 points, at most 500"),
        ("1000:5000:3", "1", "missing/F.csv", "folder"),
        ("1000:5000:3", "1", "F.png", "the PNG is written beside the CSV"),
        ("1000:5000:3", "1", "PNGDIR/F.csv", "F.png: is a folder"),
    ],
    ids=["billion_budgets", "too_many_points", "missing_folder", "out_is_png", "png_is_a_dir"],
)
def test_frontier_is_refused_before_any_solve(tmp_path, tables, capsys, monkeypatch, budgets,
                                              scales, out, fragment):
    from waifang.optimise import frontier

    def no_solving(*args, **kwargs):
        raise AssertionError("the frontier solved before refusing")

    monkeypatch.setattr(frontier, "budget_frontier", no_solving)
    (tmp_path / "PNGDIR" / "F.png").mkdir(parents=True)
    started = time.monotonic()
    code = main([*tables, "--budgets", budgets, "--capacity-scales", scales,
                 "--out", str(tmp_path / out)])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fragment in err, err
    assert time.monotonic() - started < 5
    assert not (tmp_path / "F.csv").exists()


def test_frontier_shows_progress(tmp_path, tables, capsys):
    code = main([*tables, "--budgets", "0:1000:3", "--capacity-scales", "1,2",
                 "--out", str(tmp_path / "F.csv")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.splitlines() == [f"frontier point {i}/6 solved" for i in range(1, 7)]


@pytest.mark.parametrize(
    "table, fragment",
    [
        ("days = [{}]\nseed = [{}]\n".format(
            ", ".join(str(d) for d in range(5, 45)), ", ".join(str(s) for s in range(30))),
         "sweep: 1,200 points, at most 1,000"),
        ("points = [{}]\n".format(", ".join(f"{{ days = {5 + k % 40} }}" for k in range(1001))),
         "sweep.points: 1,001 points, at most 1,000"),
    ],
    ids=["grid", "listed"],
)
def test_oversized_sweep_is_one_line_before_any_work(tmp_path, capsys, table, fragment):
    text = SMALL.read_text() + "\n[sweep]\n" + table
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    started = time.monotonic()
    for argv in (["validate", str(path)], ["sweep", str(path), "--out", str(tmp_path / "o")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert time.monotonic() - started < 20
    assert not (tmp_path / "o").exists()
