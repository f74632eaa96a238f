"""Every benchmark runs end to end with tiny parameters, so none of them can rot.

Only shapes and sanity are checked (exit status, keys, counts, convergence), never
speed: these runs are far too small, and machines too different, for that.
"""

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each workload with parameters small enough for a test run. Unpinned: the four run at
# once, and pinning would put all four servers on one core.
WORKLOADS = {
    "typists": ["--clients", "3", "--seconds", "2", "--full-clients", "1"],
    "saturation": ["--clients", "2", "--seconds", "2"],
    "idle": ["--connections", "50", "--documents", "5", "--idle-seconds", "1"],
    "docsize": [
        "--sizes",
        "1024,4096",
        "--past-ops",
        "0,201",
        "--keystrokes",
        "8",
        "--warmup",
        "2",
        "--verify",
    ],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every workload, all at once: most of their time goes to starting and waiting."""
    folder = tmp_path_factory.mktemp("bench")
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"bench.{name}", "--output", str(folder / f"{name}.json"), "--no-pin", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in WORKLOADS.items()
    }
    finished = {}
    try:
        for name, proc in started.items():
            stdout, stderr = proc.communicate(timeout=240)
            finished[name] = (
                subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                folder / f"{name}.json",
            )
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return finished


def results(runs, workload: str) -> dict:
    """The JSON a workload wrote, once it exited 0."""
    done, output = runs[workload]
    assert done.returncode == 0, f"stdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert "written to" in done.stdout
    return json.loads(output.read_text())


def assert_latency(summary: dict, *, count: int | None = None) -> None:
    """A latency summary with samples, ordered percentiles and no negative time."""
    assert summary["count"] > 0
    if count is not None:
        assert summary["count"] == count
    assert 0 <= summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]


def assert_machine(data: dict) -> None:
    machine = data["machine"]
    assert machine["cpus"] >= 1
    assert len(machine["load_average"]) == 3 and len(machine["load_average_after"]) == 3
    assert machine["date"]


def test_typists_run_converges_and_times_every_keystroke(runs):
    """Three typists (one full, two length-only) for two seconds: every keystroke acked
    and received by both others."""
    data = results(runs, "typists")
    assert_machine(data)
    [run] = data["runs"]
    assert run["clients"] == 3 and run["full_clients"] == 1
    assert run["converged"] is True and run["problem"] is None
    assert run["errors"] == 0 and run["reconnects"] == 0
    assert run["keystrokes"] > 0
    assert_latency(run["ack_ms"], count=run["keystrokes"])
    assert run["receipts"] == {"expected": 2 * run["keystrokes"], "delivered": 2 * run["keystrokes"]}
    assert_latency(run["broadcast_ms"], count=2 * run["keystrokes"])
    assert_latency(run["broadcast_last_peer_ms"], count=run["keystrokes"])
    assert run["committed_keystrokes_per_second"] > 0
    assert run["typing"]["server_cpu_seconds"] >= 0
    assert run["server"]["peak_rss_kb"] >= run["server"]["rss_kb"] > 0
    assert run["server"]["log_tracebacks"] == 0


def test_plot_draws_the_typists_figures(runs, tmp_path):
    """The plot reads the typists' JSON and writes a PNG."""
    pytest.importorskip("matplotlib")
    results(runs, "typists")
    png = tmp_path / "typists.png"
    done = subprocess.run(
        [sys.executable, "-m", "bench.plot", "--input", str(runs["typists"][1]), "--output", str(png)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saturation_run_commits_every_op_once(runs):
    """Two clients hammering for two seconds: every keystroke is one committed op."""
    data = results(runs, "saturation")
    assert_machine(data)
    result = data["result"]
    assert result["converged"] is True and result["errors"] == 0
    assert result["committed_ops"] == result["keystrokes"] > 0
    assert result["committed_ops_per_second"] > 0
    assert_latency(result["round_trip_ms"], count=result["keystrokes"])
    assert list(data["targets"]) == ["saturation >= 1,600 committed ops/s"]


def test_idle_run_opens_every_connection_and_measures_memory(runs):
    """Fifty idle connections over five documents all join; memory is read before and after."""
    data = results(runs, "idle")
    assert_machine(data)
    result = data["result"]
    assert result["connected"] == 50 and result["failed"] == 0
    assert result["still_open_after_idle"] == 50
    assert result["rss_kb"]["baseline"] > 0 and result["rss_kb"]["connected"] > 0
    assert result["kb_per_connection"] is not None
    assert_latency(result["join_ms"], count=50)
    assert result["server"]["log_tracebacks"] == 0


def test_idle_bare_run_measures_daphne_alone(tmp_path):
    """``--bare`` serves an app that only accepts: the floor, measured the same way."""
    output = tmp_path / "bare.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.idle",
            "--bare",
            "--connections",
            "20",
            "--idle-seconds",
            "0.5",
            "--no-pin",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    data = json.loads(output.read_text())
    result = data["result"]
    assert data["parameters"]["bare"] is True and data["targets"] == {}
    assert result["connected"] == 20 and result["failed"] == 0 and result["still_open_after_idle"] == 20
    assert result["kb_per_connection"] is not None
    assert result["server"]["log_tracebacks"] == 0


def test_docsize_run_measures_every_case_through_the_server_and_directly(runs):
    """Two sizes by two history lengths: valid histories, converged clients, direct timings."""
    data = results(runs, "docsize")
    assert_machine(data)
    cases = {(c["chars"], c["past_ops"]): c for c in data["cases"]}
    assert set(cases) == {(1024, 0), (1024, 201), (4096, 0), (4096, 201)}
    for (_chars, past), case in cases.items():
        assert case["start_revision"] == 1 + past
        assert case["history_replays_to_text"] is True
        assert case["converged"] is True
        assert_latency(case["round_trip_ms"], count=8)
        assert_latency(case["direct_ms"], count=8)
        assert {"lock", "store", "commit_and_rest"} <= set(case["direct_stage_mean_ms"])
    assert set(data["ratios"]) == {"round_trip_p50", "server_cpu_per_keystroke", "direct_commit_mean"}
    assert data["ratios"]["round_trip_p50"] > 0


def bench_rounds(module: str, *args: str, row: str) -> tuple[list[tuple[str, ...]], str]:
    """Run ``python -m bench.<module> args``; the groups of ``row`` in each round it
    printed (every figure checked positive), and its output."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-4000:]
    rounds = re.findall(row, done.stdout)
    assert rounds and all(float(figure) > 0 for found in rounds for figure in found), done.stdout
    return rounds, done.stdout


def test_the_commit_path_benchmark_commits_every_op_warm_and_after_idle():
    """``python -m bench.commit`` commits through the service, both ways, and says how much
    (here with ops made a few revisions back, each rebased before it is stored)."""
    rounds, output = bench_rounds(
        "commit",
        *("--batch", "3", "--batches", "10", "--idle-ms", "1", "--rounds", "2", "--behind", "5"),
        row=r"round \d: batch of 3: warm (\d+) us wall, (\d+) us CPU; after 1 ms idle (\d+) us wall, (\d+) us CPU",
    )
    assert len(rounds) == 2
    assert "120 revisions committed, 120 ops sent" in output


def test_the_commit_path_benchmark_compares_the_driver_and_django_in_one_process():
    """``python -m bench.commit --cursors`` times the commit on SQLite's driver and
    through Django, and the watcher that puts it through Django sees its statements: at
    least atomic()'s BEGIN, the lock, the insert and the update of every batch it watched."""
    rounds, output = bench_rounds(
        "commit",
        *("--cursors", "--batches", "100", "--rounds", "2"),
        row=r"round \d: batch of 1: on SQLite's driver (\d+) us CPU, through Django (\d+) us CPU \(([\d.]+)x\); "
        r"the watcher saw (\d+) statements in (\d+) batches",
    )
    assert len(rounds) == 2
    for *_, seen, batches in rounds:
        assert int(batches) == 100 and int(seen) >= 4 * int(batches)
    assert "400 revisions committed, 400 ops sent" in output


def test_the_commit_path_benchmark_compares_the_two_transactions_in_one_process():
    """``python -m bench.commit --atomic`` times the commit with its transaction on
    SQLite's driver and in Django's atomic(), nothing watching either way."""
    rounds, output = bench_rounds(
        "commit",
        *("--atomic", "--batch", "2", "--batches", "100", "--rounds", "2"),
        row=r"(?m)^round \d: batch of 2: on SQLite's driver (\d+) us CPU, in atomic\(\) (\d+) us CPU \(([\d.]+)x\)$",
    )
    assert len(rounds) == 2 and "watcher" not in output
    assert "800 revisions committed, 800 ops sent" in output


def test_the_hop_benchmark_times_both_ways_to_the_database_thread():
    """``python -m bench.hop`` makes every round trip both ways and prints both figures."""
    rounds, _ = bench_rounds(
        "hop",
        *("--hops", "50", "--rounds", "2"),
        row=r"round \d: run_in_executor ([\d.]+) us wall, ([\d.]+) us CPU; "
        r"dbthread.run ([\d.]+) us wall, ([\d.]+) us CPU",
    )
    assert len(rounds) == 2


SPINNER = """
import threading, time
def spin():
    while True:
        sum(range(20000))
        time.sleep(0.0005)  # waits too: voluntary switches
threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
time.sleep(60)
"""


def test_the_threads_benchmark_splits_a_process_cpu_by_thread():
    """``python -m bench.threads`` finds a process by its command line and reports the
    thread that works, with user time and the switches of its waits."""
    marker = f"collab-threads-spinner-{uuid.uuid4().hex}"
    spinner = subprocess.Popen([sys.executable, "-c", f"{SPINNER}# {marker}"], stdout=subprocess.PIPE, text=True)
    try:
        assert spinner.stdout.readline() == "ready\n"  # its thread runs, its main thread sleeps
        done = subprocess.run(
            [sys.executable, "-m", "bench.threads", "--match", marker, "--after", "0.2", "--seconds", "1"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        spinner.kill()
        spinner.wait()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"pid {spinner.pid}, 1 s")
    rows = re.findall(r"^ *(\d+) +.+? +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)$", done.stdout, re.MULTILINE)
    # The main thread sleeps throughout: only the spinning thread ran.
    [(tid, user, _system, voluntary, _involuntary)] = rows
    assert int(tid) != spinner.pid
    assert float(user) > 5 and float(voluntary) > 100
