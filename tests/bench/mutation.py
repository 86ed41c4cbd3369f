"""Mutation score of the core: do the tests fail when the code is wrong? Prints one JSON object.

mutmut (3.x) rewrites every function of the core modules named in ``[tool.mutmut]`` of pyproject.toml
into many small variants (a ``<`` turned into ``<=``, a constant changed, a call's argument dropped, a
string altered) and runs, for each variant, the tests that execute that function. A variant the tests
still pass on ("survived") is a bug the suite would not notice.

The run happens in a scratch copy of the working tree, so neither the tree nor its ``mutants/`` folder is
touched, and nothing is remembered between runs: every run starts fresh.

    python tests/bench/mutation.py                        # every core module (tens of minutes on 2 cores)
    python tests/bench/mutation.py vault/crypto.py ...    # only these modules
    python tests/bench/mutation.py --survivors-diff F     # also write each survivor's diff to F

The baseline of the score is the score itself: killed / (mutants - listed equivalents). Mutants listed in
docs/testing.md ("Equivalent mutants") are behaviour-preserving rewrites; they are reported apart, with the
raw score beside the adjusted one. "no tests" mutants (no selected test runs the function) count as
survivors. A mutant that makes the tests time out counts as killed (it hangs a sweep: a user notices).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def working_tree_files() -> list[Path]:
    """Tracked and untracked files that git does not ignore: what a commit of this tree would hold."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    return [Path(p) for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def equivalents() -> dict[str, str]:
    """Mutant name -> reason, from the table under "Equivalent mutants" in docs/testing.md."""
    doc = ROOT / "docs" / "testing.md"
    if not doc.exists():
        return {}
    text = doc.read_text()
    start = text.find("## Equivalent mutants")
    if start < 0:
        return {}
    section = text[start:]
    nxt = section.find("\n## ", 3)
    section = section if nxt < 0 else section[:nxt]
    found: dict[str, str] = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`([\w.ǁ]+__mutmut_\d+)`\s*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def scratch_copy(dest: Path, modules: list[str]) -> None:
    for rel in working_tree_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target, follow_symlinks=False)
    if modules:
        py = dest / "pyproject.toml"
        text = py.read_text()
        listed = tomllib.loads(text)["tool"]["mutmut"]["only_mutate"]
        unknown = [m for m in modules if m not in listed]
        if unknown:
            sys.exit(f"not a core module in [tool.mutmut] only_mutate: {', '.join(unknown)}")
        chosen = ", ".join(json.dumps(m) for m in modules)
        text = re.sub(r"only_mutate = \[.*?\]", f"only_mutate = [{chosen}]", text, count=1, flags=re.S)
        py.write_text(text)


def read_results(work: Path) -> dict[str, dict[str, str]]:
    """module path -> {mutant name: status}, from the .meta files mutmut writes beside each mutant."""
    from mutmut.stats import status_by_exit_code

    results: dict[str, dict[str, str]] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        module = meta.relative_to(work / "mutants").as_posix()[: -len(".meta")]
        data = json.loads(meta.read_text())
        results[module] = {name: status_by_exit_code[code] for name, code in data["exit_code_by_key"].items()}
    return results


def score(statuses: dict[str, str], equivalent: dict[str, str]) -> dict[str, Any]:
    counts = Counter(statuses.values())
    total = len(statuses)
    killed = sum(n for s, n in counts.items() if s in KILLED)
    equiv = sorted(n for n, s in statuses.items() if n in equivalent and s not in KILLED)
    survivors = sorted(n for n, s in statuses.items() if s not in KILLED and n not in equivalent)
    judged = total - len(equiv)
    return {
        "mutants": total,
        "killed": killed,
        "survived": counts.get("survived", 0),
        "no_tests": counts.get("no tests", 0),
        "timeout": counts.get("timeout", 0),
        "equivalent": len(equiv),
        "score": round(killed / judged, 4) if judged else None,
        "raw_score": round(killed / total, 4) if total else None,
        "survivors": survivors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="core modules to mutate (default: all in [tool.mutmut])")
    parser.add_argument("--survivors-diff", type=Path, help="write every survivor's diff to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print where it is")
    args = parser.parse_args()

    try:
        import mutmut
    except ImportError:
        sys.exit("mutmut is not installed: pip install -e '.[dev]'")

    work = Path(tempfile.mkdtemp(prefix="readiness-mutation-"))
    started = time.perf_counter()
    log = work / "mutmut.log"
    try:
        scratch_copy(work, args.modules)
        print(f"mutation run in {work} (log: {log})", file=sys.stderr)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        with log.open("w") as out:
            proc = subprocess.Popen(["mutmut", "run"], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
            last = ""
            while proc.poll() is None:
                time.sleep(5)
                tail = log.read_bytes()[-400:].decode(errors="replace")
                progress = re.findall(r"(\d+/\d+)\s+🎉 (\d+)", tail)
                if progress and progress[-1][0] != last:
                    last = progress[-1][0]
                    print(f"  {last} mutants tested, {progress[-1][1]} killed", file=sys.stderr)
        if proc.returncode != 0:
            print(log.read_text()[-3000:], file=sys.stderr)
            sys.exit(f"mutmut failed with exit code {proc.returncode}; log above")

        equivalent = equivalents()
        per_module = {m: score(s, equivalent) for m, s in read_results(work).items()}
        every: dict[str, str] = {}
        for statuses in read_results(work).values():
            every.update(statuses)
        total = score(every, equivalent)
        total.pop("survivors")

        if args.survivors_diff:
            diffs = defaultdict(list)
            for module, row in per_module.items():
                for name in row["survivors"]:
                    shown = subprocess.run(["mutmut", "show", name], cwd=work, env=env, capture_output=True, text=True)
                    diffs[module].append(shown.stdout)
            args.survivors_diff.write_text("\n".join(d for ds in diffs.values() for d in ds))

        report = {
            "benchmark": "mutation",
            "tool": f"mutmut {mutmut.__version__}",
            "command": "python tests/bench/mutation.py " + " ".join(args.modules),
            "wall_s": round(time.perf_counter() - started, 1),
            "aim": 0.85,
            "total": total,
            "modules": per_module,
        }
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    finally:
        if args.keep:
            print(f"scratch copy kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
