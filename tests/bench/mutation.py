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
    python tests/bench/mutation.py --sample 0.1           # a seeded tenth of each module's mutants
    python tests/bench/mutation.py vault/crypto.py --tests tests/vault/test_crypto.py   # quick lower bound
    python tests/bench/mutation.py --mutant vault.crypto.x_derive_key__mutmut_7 ...     # only these mutants

A full run of every module is about 10,000 mutants and hours on 2 cores. ``--sample F`` tests a fraction
of the mutants, chosen by a hash of each mutant's name (the same mutants every run of the same code), and
reports the score with its 95 % interval: the way to compare two trees quickly. The aim is judged on full
runs of a module.

The baseline of the score is the score itself: killed / (mutants - listed equivalents). Mutants listed in
docs/testing.md ("Equivalent mutants") are behaviour-preserving rewrites; they are reported apart, with the
raw score beside the adjusted one. "no tests" mutants (no selected test runs the function) count as
survivors. A mutant that makes the tests time out counts as killed (it hangs a sweep: a user notices).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
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

# What "the core" is, function by function. Whole modules for the engine's decisions and the vault; for
# the provider kinds, the functions that classify an answer (the HTTP plumbing around them is exercised
# by every kind test but is not where a wrong verdict comes from); for history, the store's reads and
# writes (ordering, streaks, waivers), not the DataFrame helpers the pages draw from.
ALL = ("*",)
SCOPE: dict[str, tuple[str, ...]] = {
    "checks/core/status.py": ALL,
    "checks/core/facts.py": ALL,
    "checks/core/verdict.py": ALL,
    "checks/core/runner.py": ALL,
    "checks/core/redact.py": ALL,
    "checks/core/manifest.py": ALL,
    "checks/core/manifest_load.py": ALL,
    "checks/storage/history.py": ("xǁStoreǁ*", "x__result_row", "x__check_result", "x__waiver", "x__attestation"),
    "checks/builtin/aadsts.py": ALL,
    "checks/builtin/google_errors.py": ("x_read_auth_error", "x_google_error"),
    "checks/builtin/google_client.py": ("x__judge_location", "x__signin_page", "x__judge_error"),
    "checks/builtin/microsoft_errors.py": (
        "x_no_tenant",
        "x_refused",
        "x__from_table",
        "x_aad_error",
        "x_said",
        "x_graph_error",
    ),
    "checks/builtin/microsoft_registration.py": ("x__judge_registration", "x__judge_secrets", "x__near_miss"),
    "checks/builtin/microsoft_scopes.py": ("x_review_scopes",),
    "checks/builtin/twilio.py": ("x__account", "x__numbers", "x__refused", "x__twilio_error"),
    "checks/builtin/retell.py": ("x__judge", "x__refused", "x__message"),
    "checks/builtin/ghl_setup.py": ("x__url_problem",),
    "checks/builtin/ghl_refusals.py": ("x_refusal", "x__ghl_message"),
    "checks/builtin/ghl_proxy.py": ("x__health", "x__without_key", "x__with_key"),
    "checks/builtin/ghl_locations.py": ("x__judge",),
    "vault/redact.py": ALL,
    "vault/crypto.py": ALL,
    "vault/audit.py": ALL,
    "vault/rbac.py": ALL,
    "vault/store.py": ALL,
    "vault/store_session.py": ALL,
    "vault/store_meta.py": ALL,
    "vault/store_values.py": ALL,
    "vault/store_keys.py": ALL,
    "vault/store_ops.py": ALL,
    "vault/store_credentials.py": ALL,
    "vault/names.py": ALL,
    "vault/store_rotation.py": ALL,
    "vault/store_audit.py": ALL,
    "vault/refresh.py": ALL,
    "vault/refresh_settle.py": ALL,
    "vault/refresh_report.py": ALL,
    "vault/refresh_endpoints.py": ALL,
    "vault/retry.py": ALL,
}


def name_globs(modules: list[str]) -> list[str]:
    """mutmut mutant-name patterns for the chosen modules: ``pkg.mod.x_func__mutmut_*``."""
    globs = []
    for module in modules:
        dotted = module[: -len(".py")].replace("/", ".")
        globs += [f"{dotted}.{fn}__mutmut_*" for fn in SCOPE[module]]
    return globs


def in_scope(name: str, modules: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in name_globs(modules))


def sampled(name: str, fraction: float) -> bool:
    """A stable choice: the same mutant name is in or out of a sample of this fraction on every run."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def interval(killed: int, n: int) -> list[float] | None:
    """Wilson 95 % interval of a proportion: where the full run's score lies, from a sample."""
    if n == 0:
        return None
    z = 1.96
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


GENERATE = """
import mutmut.__main__ as m
m.set_mutant_under_test("mutant_generation")
m.copy_src_dir(); m.copy_also_copy_files(); m.setup_source_paths(); m.create_mutants(2)
"""


SKIPPED = 34  # mutmut's exit code for "skipped"


ONLY: set[str] = set()  # --mutant NAME...: exactly these mutants, whatever the modules and the sample


def chosen(name: str, modules: list[str], fraction: float) -> bool:
    if ONLY:
        return name in ONLY
    return in_scope(name, modules) and sampled(name, fraction)


def module_of(name: str) -> str:
    """The core module a mutant name belongs to: ``vault.store_keys.xǁVaultKeysǁ_forget_dek__mutmut_3`` ->
    ``vault/store_keys.py``."""
    for module in SCOPE:
        if in_scope(name, [module]):
            return module
    sys.exit(f"not a mutant of a core module in scope: {name}")


def skip_unchosen(work: Path, modules: list[str], fraction: float) -> int:
    """Mark the generated mutants outside the scope or the sample as skipped; returns how many remain."""
    count = 0
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        for name in codes:
            if chosen(name, modules, fraction):
                count += 1
            else:
                codes[name] = SKIPPED
        meta.write_text(json.dumps(data))
    return count


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


def scratch_copy(dest: Path, modules: list[str], tests: list[str]) -> None:
    for rel in working_tree_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target, follow_symlinks=False)
    if modules:
        py = dest / "pyproject.toml"
        text = py.read_text()
        listed = tomllib.loads(text)["tool"]["mutmut"]["only_mutate"]
        unknown = [m for m in modules if m not in listed or m not in SCOPE]
        if unknown:
            sys.exit(f"not a core module in [tool.mutmut] only_mutate: {', '.join(unknown)}")
        chosen = ", ".join(json.dumps(m) for m in modules)
        text = re.sub(r"only_mutate = \[.*?\]", f"only_mutate = [{chosen}]", text, count=1, flags=re.S)
        py.write_text(text)
    if tests:
        py = dest / "pyproject.toml"
        chosen = ", ".join(json.dumps(t) for t in tests)
        pattern = r"pytest_add_cli_args_test_selection = \[.*?\]"
        text = re.sub(pattern, f"pytest_add_cli_args_test_selection = [{chosen}]", py.read_text(), count=1, flags=re.S)
        py.write_text(text)


def read_results(work: Path, modules: list[str], fraction: float) -> dict[str, dict[str, str]]:
    """module path -> {mutant name: status} for the mutants in scope, from the .meta files mutmut writes
    beside each mutant."""
    from mutmut.stats import status_by_exit_code

    results: dict[str, dict[str, str]] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        module = meta.relative_to(work / "mutants").as_posix()[: -len(".meta")]
        data = json.loads(meta.read_text())
        results[module] = {
            name: status_by_exit_code[code]
            for name, code in data["exit_code_by_key"].items()
            if chosen(name, modules, fraction) and code is not None
        }
    return results


def score(statuses: dict[str, str], equivalent: dict[str, str]) -> dict[str, Any]:
    counts = Counter(statuses.values())
    total = len(statuses)
    killed = sum(n for s, n in counts.items() if s in KILLED)
    equiv = sorted(n for n, s in statuses.items() if n in equivalent and s not in KILLED)
    survivors = sorted(n for n, s in statuses.items() if s not in KILLED and n not in equivalent)
    judged = total - len(equiv)
    return {
        "interval_95": interval(killed, judged),
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
    parser.add_argument(
        "--tests",
        nargs="+",
        default=[],
        help="only these test files (a quick lower bound while writing tests; the score is judged on the full list)",
    )
    parser.add_argument("--sample", type=float, default=1.0, help="fraction of each module's mutants to test")
    parser.add_argument("--max-children", type=int, default=4, help="mutants tested at once (default 4)")
    parser.add_argument(
        "--mutant",
        nargs="+",
        default=[],
        metavar="NAME",
        help="only these mutants, by name (a quick re-check of survivors; their modules are inferred)",
    )
    args = parser.parse_args()
    if args.mutant:
        ONLY.update(args.mutant)
        args.modules = sorted({module_of(name) for name in args.mutant} | set(args.modules))
    modules = args.modules or list(SCOPE)

    try:
        import mutmut
    except ImportError:
        sys.exit("mutmut is not installed: pip install -e '.[dev]'")

    work = Path(tempfile.mkdtemp(prefix="readiness-mutation-"))
    started = time.perf_counter()
    log = work / "mutmut.log"
    try:
        configured = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
        if sorted(configured) != sorted(SCOPE):
            sys.exit("[tool.mutmut] only_mutate and SCOPE in tests/bench/mutation.py list different modules")
        scratch_copy(work, args.modules, args.tests)
        print(f"mutation run in {work} (log: {log})", file=sys.stderr)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        with log.open("w") as out:
            # Make the mutants (mutmut's own first step of a run), then mark every mutant outside the scope
            # (or the sample) as skipped, so that a plain `mutmut run` tests exactly the chosen ones. Passing
            # their names instead makes mutmut run its clean pass by test id, which pytest refuses here.
            subprocess.run([sys.executable, "-c", GENERATE], cwd=work, env=env, stdout=out, stderr=out, check=True)
            chosen = skip_unchosen(work, modules, args.sample)
            print(f"{chosen} mutants chosen", file=sys.stderr)
            command = ["mutmut", "run", f"--max-children={args.max_children}"]
            proc = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
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
        results = read_results(work, modules, args.sample)
        per_module = {m: score(s, equivalent) for m, s in results.items()}
        every: dict[str, str] = {}
        for statuses in results.values():
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
            "command": " ".join(["python tests/bench/mutation.py", *sys.argv[1:]]),
            "sample": args.sample,
            "tests": args.tests or "the [tool.mutmut] selection",
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
