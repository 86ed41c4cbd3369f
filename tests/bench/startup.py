"""Benchmark start-up: the ``readiness`` command as whole processes, against importing httpx and pydantic.

What a CI pipeline waits for on every call, start-up included. Each command runs as its own process in a
clean environment (no provider variable; only PATH, and PYTHONPATH when set, pass through), in a fresh
empty working directory with a fresh empty HOME, so nothing configured and nothing cached by an earlier run:

* ``baseline``: ``python -c "import httpx, pydantic"``, the lean floor (what any httpx + pydantic tool pays);
* ``help``: ``readiness --help``;
* ``validate``: ``readiness validate`` (the embedded default manifest);
* ``check_no_record``: ``readiness check --no-record`` (the default manifest, nothing configured: NO-GO,
  exit 1);
* ``check_without_selftest``: the same sweep with ``--only`` naming every check but the vault's self-test
  (``vault.service.selftest`` builds a scratch vault on SQLAlchemy, whose import alone costs more than the
  whole baseline): what the sweep itself costs, beside what the self-test adds.

Wall time (``time.perf_counter`` around spawn and ``os.wait4``), CPU time (user + system) and peak RSS
(``ru_maxrss``), both of the child from ``os.wait4``, per process; the aims are on wall time, the CPU
figures say how much of it was ours when the machine is shared. One untimed warm-up of each, then
``--rounds`` rounds (default 5), each round running every command once, in an order rotated from round
to round. Every figure is min/median/max over the rounds; each command's ratio to the baseline is taken
per round (same round, same load) and given as min/median/max too, beside the ratio of the medians.
Each process's exit code is checked: a command that fails fast must not pass for a fast one.

Instructions: where valgrind is installed, each command runs once more under ``valgrind --tool=callgrind``,
and the instructions it executed (millions) and their ratio to the baseline's are reported too. A count is the
same run after run whatever else the machine does, so it settles what a noisy wall time cannot; the aims stay
on wall time.

Run: python tests/bench/startup.py [--rounds N]   (the JSON is docs/bench/startup.json)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ROUNDS = 5
AIMS = {"help": 1.5, "validate": 1.5, "check_no_record": 2.5, "check_without_selftest": 2.5}
"""Issue 13's aims: each command's median wall time over the baseline's."""


def readiness_argv() -> list[str]:
    """The ``readiness`` console script beside this interpreter (a venv's bin), else the module."""
    script = Path(sys.executable).parent / "readiness"
    return [str(script)] if script.exists() else [sys.executable, "-m", "checks.shell.cli"]


SELFTEST = "vault.service.selftest"


def default_check_ids() -> list[str]:
    """Every check id of the embedded default manifest, in order (a child process: this one stays clean)."""
    code = "from checks.core.manifest_load import load_manifest\nfor c in load_manifest(None).all_checks: print(c.id)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tempfile.gettempdir()
    )
    return out.stdout.split()


def commands() -> dict[str, tuple[list[str], int]]:
    """Name -> (argv, the exit code it must end with)."""
    cli = readiness_argv()
    others = [arg for cid in default_check_ids() if cid != SELFTEST for arg in ("--only", cid)]
    return {
        "baseline": ([sys.executable, "-c", "import httpx, pydantic"], 0),
        "help": ([*cli, "--help"], 0),
        "validate": ([*cli, "validate"], 0),
        "check_no_record": ([*cli, "check", "--no-record"], 1),
        "check_without_selftest": ([*cli, "check", "--no-record", *others], 1),
    }


def clean_env(home: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]  # a worktree's code over the installed one
    return env


def run_once(argv: list[str], expect: int) -> tuple[float, float, float]:
    """One process: (wall seconds, peak RSS MiB, CPU seconds: user + system)."""
    scratch = Path(tempfile.mkdtemp(prefix="readiness-startup-"))
    try:
        (scratch / "home").mkdir()
        (scratch / "cwd").mkdir()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=scratch / "cwd",
            env=clean_env(scratch / "home"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        stderr = proc.stderr.read()  # until the child closes it (its exit); a full pipe would block it
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
        proc.stderr.close()
        if proc.returncode != expect:
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}, expected {expect}: {tail}")
        return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss: kilobytes on Linux
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def count_instructions(argv: list[str], expect: int) -> int | None:
    """Instructions one process executes (callgrind's total), or None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    scratch = Path(tempfile.mkdtemp(prefix="readiness-startup-"))
    try:
        (scratch / "home").mkdir()
        (scratch / "cwd").mkdir()
        proc = subprocess.run(
            [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
            cwd=scratch / "cwd",
            env=clean_env(scratch / "home"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            timeout=600,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if proc.returncode != expect:
        raise SystemExit(f"valgrind {' '.join(argv)}: exit {proc.returncode}, expected {expect}")
    found = re.search(r"Collected : (\d+)", proc.stderr)
    return int(found.group(1)) if found else None


def spread(values: list[float], digits: int = 3) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    settings = {} if args.rounds == DEFAULT_ROUNDS else {"rounds": args.rounds}

    cmds = commands()
    names = list(cmds)
    load_before = os.getloadavg()
    for name in names:  # warm-up: bytecode caches and the page cache, as on a CI runner's second call
        run_once(*cmds[name])
    wall: dict[str, list[float]] = {n: [] for n in names}
    rss: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            w, m, c = run_once(*cmds[name])
            wall[name].append(w)
            rss[name].append(m)
            cpu[name].append(c)
    load_after = os.getloadavg()
    instructions = {name: count_instructions(*cmds[name]) for name in names}

    figures: dict[str, dict[str, object]] = {}
    base = statistics.median(wall["baseline"])
    base_rss = statistics.median(rss["baseline"])
    for name in names:
        argv, expect = cmds[name]
        shown = shlex.join(["python", *argv[1:]] if argv[0] == sys.executable else [Path(argv[0]).name, *argv[1:]])
        if name == "check_without_selftest":
            shown = shown.split(" --only ")[0] + f" --only ID ... (every check but {SELFTEST})"
        entry: dict[str, object] = {
            "argv": shown,
            "exit": expect,
            "wall_s": spread(wall[name]),
            "cpu_s": spread(cpu[name]),
            "peak_rss_mib": spread(rss[name], 1),
        }
        if instructions[name]:
            entry["instructions_millions"] = round(instructions[name] / 1e6)
        if name != "baseline":
            entry["wall_ratio"] = spread([w / b for w, b in zip(wall[name], wall["baseline"], strict=True)], 2)
            entry["wall_ratio_of_medians"] = round(statistics.median(wall[name]) / base, 2)
            entry["cpu_ratio_of_medians"] = round(statistics.median(cpu[name]) / statistics.median(cpu["baseline"]), 2)
            entry["rss_ratio_of_medians"] = round(statistics.median(rss[name]) / base_rss, 2)
            if instructions[name] and instructions["baseline"]:
                entry["instruction_ratio"] = round(instructions[name] / instructions["baseline"], 2)
            entry["aim"] = AIMS[name]
            entry["within_aim"] = entry["wall_ratio_of_medians"] <= AIMS[name]
        figures[name] = entry

    print(
        json.dumps(
            {
                "benchmark": "startup",
                "command": "python tests/bench/startup.py" + ("" if not settings else f" --rounds {args.rounds}"),
                "settings": settings,
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
                "commit": commit(),
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "load_average_1min": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
                "python": sys.version.split()[0],
                "figures": figures,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
