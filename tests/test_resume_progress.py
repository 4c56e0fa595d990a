"""A killed run resumes with --resume and ends with exactly the numbers of an uninterrupted
run; a changed scenario is refused; progress shows on a terminal and leaves no control codes
in a file or pipe."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from waifang.errors import InputError
from waifang.scenarios import execution
from waifang.scenarios.checkpoint import FOLDER, Checkpoint
from waifang.scenarios.cli import main
from waifang.scenarios.progress import progress_reporter
from waifang.scenarios.runner import run_scenario
from waifang.scenarios.schema import load_scenario

ROOT = Path(__file__).resolve().parent.parent


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """tiny scenario (800 accounts, 30 days), 3 replications, run straight through."""
    folder = tmp_path_factory.mktemp("straight")
    text = (ROOT / "tests" / "data" / "small.toml").read_text()
    text = text.replace("accounts = 3000", "accounts = 800").replace("days = 60", "days = 30")
    path = folder / "tiny.toml"
    path.write_text(text.replace("replications = 2", "replications = 3"))
    out = folder / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    return path, out


def test_interrupted_run_resumes_with_only_the_missing_work(uninterrupted, tmp_path, monkeypatch):
    path, straight = uninterrupted
    scenario = load_scenario(path)
    checkpoint = Checkpoint(tmp_path)

    def stop_after_four(done, total, run):
        if done == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_scenario(scenario, progress=stop_after_four, checkpoint=checkpoint)
    kept = sorted(p.name for p in (tmp_path / FOLDER).glob("*.pkl"))
    assert len(kept) == 4

    calls = []
    real = execution.run_unit

    def counting(scenario, seed, replication, policy):
        calls.append((replication, policy))
        return real(scenario, seed, replication, policy)

    monkeypatch.setattr(execution, "run_unit", counting)
    results = run_scenario(scenario, checkpoint=checkpoint, resume=True)
    assert len(calls) == 9 - 4  # 3 replications x 3 policies, 4 already done
    parsed = [re.fullmatch(r"p0-r(\d+)-(\d+)\.pkl", name) for name in kept]
    kept_units = {(int(m[1]), int(m[2])) for m in parsed}
    assert not kept_units & set(calls)
    expected = pd.read_csv(straight / "summary.csv")
    pd.testing.assert_frame_equal(
        pd.read_csv(io.StringIO(results.summary.to_csv(index=False))), expected
    )


def test_killed_cli_run_resumes_to_identical_files(uninterrupted, tmp_path):
    path, straight = uninterrupted
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "waifang.scenarios.cli", "run", str(path), "--out", str(out),
         "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    deadline = time.monotonic() + 120
    try:
        while len(list((out / FOLDER).glob("*.pkl"))) < 2:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (out / "summary.csv").exists()  # all or nothing: no final file yet
    kept = len(list((out / FOLDER).glob("*.pkl")))
    assert 2 <= kept < 9

    assert main(["run", str(path), "--out", str(out), "--quiet", "--resume"]) == 0
    for name in ("summary.csv", "comparison.csv", "daily.csv", "blocked.csv"):
        assert (out / name).read_bytes() == (straight / name).read_bytes(), name
    assert not (out / FOLDER).exists()  # the checkpoint goes once the files are in place


def test_resume_refuses_another_scenario_and_an_empty_folder(uninterrupted, tmp_path, capsys):
    path, _ = uninterrupted
    scenario = load_scenario(path)

    def stop(done, total, run):
        raise Interrupt

    with pytest.raises(Interrupt):
        run_scenario(scenario, progress=stop, checkpoint=Checkpoint(tmp_path / "out"))
    edited = tmp_path / "edited.toml"
    edited.write_text(path.read_text().replace("days = 30", "days = 31"))
    assert main(["run", str(edited), "--out", str(tmp_path / "out"), "--resume"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--resume:" in err and "unfinished run of another scenario" in err
    assert "run without --resume" in err
    # Another seed is another run too.
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--resume", "--seed", "1"]) == 1
    assert "another seed (7, now 1)" in capsys.readouterr().err
    assert list((tmp_path / "out" / FOLDER).glob("*.pkl"))  # the kept work is not destroyed

    assert main(["run", str(path), "--out", str(tmp_path / "empty"), "--resume"]) == 1
    assert "holds no unfinished run" in capsys.readouterr().err
    with pytest.raises(InputError, match="holds no unfinished run"):
        Checkpoint(tmp_path / "empty").start({}, resume=True)


def test_piped_output_has_no_control_codes_and_quiet_prints_only_the_table(uninterrupted,
                                                                           tmp_path):
    path, _ = uninterrupted
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "waifang.scenarios.cli", "run", str(path), "--out",
               str(tmp_path / "out"), "--replications", "1"]
    loud = subprocess.run(command, capture_output=True, env=env, timeout=300, check=True)
    quiet = subprocess.run([*command, "--quiet"], capture_output=True, env=env, timeout=300,
                           check=True)
    for stream in (loud.stdout, loud.stderr, quiet.stdout, quiet.stderr):
        assert b"\x1b" not in stream and b"\r" not in stream
    progress = loud.stderr.decode().splitlines()
    assert progress == [
        f"small: {k}/3 done (policy {p}, replication 0)"
        for k, p in enumerate(("ladder", "digital_only", "early_visits_allowed"), start=1)
    ]
    assert quiet.stderr == b""
    assert "wrote " in loud.stdout.decode() and "wrote " not in quiet.stdout.decode()
    assert "ladder" in quiet.stdout.decode() and "net NPV" in quiet.stdout.decode()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_the_policy_and_the_time_left():
    class Run:
        policy, replication = "digital_only", 3

    stream = _Terminal()
    with progress_reporter("baseline", stream=stream) as progress:
        progress(7, 20, Run())
    shown = stream.getvalue()
    assert "baseline" in shown and "7/20" in shown
    assert "policy digital_only, replication 3" in shown and "left" in shown
    assert "\x1b" in shown  # a live display (cursor control), unlike a pipe
    plain = io.StringIO()
    with progress_reporter("baseline", stream=plain) as progress:
        progress(7, 20, Run())
    assert plain.getvalue() == "baseline: 7/20 done (policy digital_only, replication 3)\n"


def test_a_unit_per_policy_gives_the_numbers_of_a_whole_replication(uninterrupted):
    """Each unit rebuilds its replication's portfolio: the same as running every policy on
    one portfolio (common random numbers are kept)."""
    from waifang.scenarios.runner import run_replication

    path, straight = uninterrupted
    scenario = load_scenario(path)
    whole = run_replication(scenario, 1, scenario.seed)
    for index, run in enumerate(whole):
        unit = execution.run_unit(scenario, scenario.seed, 1, index)
        assert unit.summary == run.summary
