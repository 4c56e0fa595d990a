"""The engine benchmark runs end to end on a tiny portfolio and keeps its output contract."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "engine.py"
LAST_LINE = re.compile(
    r"^engine_account_days_per_s=(\S+) naive_account_days_per_s=(\S+) speedup=(\S+) "
    r"bytes_per_account=(\S+)$"
)
CPU_LINE = re.compile(
    r"^cpu: engine_account_days_per_cpu_s=(\S+) naive_account_days_per_cpu_s=(\S+) "
    r"speedup_cpu=(\S+) loadavg=([\d.]+),([\d.]+),([\d.]+)$"
)


def test_benchmark_prints_its_contract_line(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_engine", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--accounts", "3000", "--days", "20", "--naive-accounts", "200"])
    lines = capsys.readouterr().out.strip().splitlines()
    match = LAST_LINE.match(lines[-1])
    assert match, lines[-1]
    engine, naive, speedup, per_account = (float(x) for x in match.groups())
    assert engine > 0 and naive > 0 and per_account > 0
    assert abs(speedup - engine / naive) < 0.1 + 1e-3 * speedup
    cpu = CPU_LINE.match(lines[-2])
    assert cpu, lines[-2]
    engine_cpu, naive_cpu, speedup_cpu = (float(x) for x in cpu.groups()[:3])
    assert engine_cpu > 0 and naive_cpu > 0
    assert abs(speedup_cpu - engine_cpu / naive_cpu) < 0.1 + 1e-3 * speedup_cpu
    # A process's CPU time cannot exceed its wall time by much (one thread; numpy's own
    # threads aside), so the CPU rate is at least about the wall rate.
    assert engine_cpu > 0.5 * engine
    assert any(line.startswith("machine: nproc=") for line in lines)
