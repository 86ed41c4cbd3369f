"""Start-up as a user meets it (issue 13): ``readiness --help`` and ``validate`` import nothing they do not use,
and ``check --no-record`` writes nothing at all. Each in a fresh interpreter, as the console script runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.valid_env import VALID_ENV

ROOT = Path(__file__).resolve().parents[2]


def clean_env(home: Path) -> dict[str, str]:
    """No provider variable, no READINESS_* and no XDG_*: a CI runner's first call, with only PATH and HOME."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PYTHONPATH": str(ROOT)}


def readiness(*args: str, cwd: Path, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checks.shell.cli", *args],
        cwd=cwd,
        env={**clean_env(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def tree(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``roots``: path -> (size, mtime in ns)."""
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            found[str(path)] = (st.st_size if path.is_file() else 0, st.st_mtime_ns)
    return found


def cli_loading(args: list[str], absent: tuple[str, ...], place) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``readiness ARGS`` as the console script does, in a child with a clean environment; its output,
    and a last line ``LOADED [...] EXIT n`` naming which of ``absent`` (and their submodules) it imported."""
    cwd, home = place
    code = (
        "import sys\n"
        f"sys.argv = ['readiness', *{args!r}]\n"
        "from checks.shell.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "imported = [m for m, module in sys.modules.items() if module is not None]  # None: marked absent\n"
        f"loaded = sorted(m for m in imported if any(m == a or m.startswith(a + '.') for a in {absent!r}))\n"
        "sys.stderr.write('LOADED ' + repr(loaded) + ' EXIT ' + repr(code) + '\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=clean_env(home), capture_output=True, text=True, timeout=120
    )
    return proc, proc.stderr.strip().splitlines()[-1]


@pytest.fixture
def place(tmp_path):
    """An empty working directory and an empty HOME."""
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return cwd, home


def test_check_no_record_writes_nothing_and_gives_the_recording_runs_verdict(place, tmp_path):
    cwd, home = place
    before = tree(cwd, home)
    proc = readiness("check", "--no-record", "--format", "json", cwd=cwd, home=home)
    assert proc.returncode == 1, proc.stderr
    assert tree(cwd, home) == before, "check --no-record wrote into the working directory or HOME"
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "NO-GO"
    assert any("TWILIO_AUTH_TOKEN is not set" in reason for reason in doc["reasons"])

    # The same sweep, recorded, elsewhere: the same verdict and the same statuses, check by check.
    other = tmp_path / "recorded"
    other.mkdir()
    recorded = readiness("check", "--format", "json", cwd=other, home=home)
    assert recorded.returncode == 1, recorded.stderr
    assert (other / ".readiness" / "readiness.db").exists()
    again = json.loads(recorded.stdout)
    assert again["verdict"] == doc["verdict"] and again["reasons"] == doc["reasons"]
    assert {r["id"]: r["status"] for r in again["results"]} == {r["id"]: r["status"] for r in doc["results"]}


def test_check_no_record_still_reads_an_existing_history(place):
    """A waiver recorded earlier still counts in a run that records nothing, and that run adds no row."""
    cwd, home = place
    env = {**VALID_ENV, "GOOGLE_OAUTH_CLIENT_SECRET": "<from_google_console>"}
    args = ("check", "--no-record", "--only", "env.*", "--format", "json")
    unwaived = readiness(*args, cwd=cwd, home=home, env=env)
    assert unwaived.returncode == 1, unwaived.stderr
    assert json.loads(unwaived.stdout)["verdict"] == "NO-GO"
    assert not (cwd / ".readiness").exists()
    waive = readiness(
        "waive",
        "env.GOOGLE_OAUTH_CLIENT_SECRET",
        "--reason",
        "rotating",
        "--until",
        "2999-01-01",
        "--by",
        "rohan",
        cwd=cwd,
        home=home,
    )
    assert waive.returncode == 0, waive.stderr
    proc = readiness(*args, cwd=cwd, home=home, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "CONDITIONAL"
    assert [r["id"] for r in doc["results"] if r["waived"]] == ["env.GOOGLE_OAUTH_CLIENT_SECRET"]
    history = readiness("history", "--format", "json", cwd=cwd, home=home)
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout) == []


HEAVY = (
    "sqlalchemy",
    "alembic",
    "pandas",
    "pyarrow",
    "plotly",
    "streamlit",
    "vault.store",
    "vault.models",
    "checks.storage",
    "checks.shell.sweep",
)


VALIDATE_SKIPS = (
    "httpx",  # the kinds' probes and checks.core.outbound load when a check runs; validating needs their params
    "tenacity",
    "asyncio",
    "checks.core.outbound",
    "checks.builtin.google_client",
    "checks.builtin.vault_integrity",
    "typer._adapters",  # option values coerced in plain Python (checks.shell.cli_coerce), no pydantic adapter
    "rich",  # validate prints plain lines; the consoles load rich on first use (vault.cli_console)
    # the console script builds only the command it runs (checks.shell.cli.COMMANDS)
    "checks.shell.cli_history",
    "checks.shell.cli_serve",
    "checks.shell.cli_watch",
    "vault.cli",
)


@pytest.mark.parametrize(
    ("args", "also_absent"),
    [
        (["--help"], ("httpx", "pydantic", "tenacity", "checks.core.registry", "checks.builtin")),
        (["check", "--help"], ("httpx", "tenacity", "checks.core.registry", "checks.builtin")),
        (["vault", "--help"], ("httpx", "tenacity", "cryptography")),
        (["validate"], VALIDATE_SKIPS),
        (["validate", "--list"], VALIDATE_SKIPS),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_help_and_validate_import_only_what_they_use(place, args, also_absent):
    """What ``readiness --help`` and ``validate`` leave out of ``sys.modules``, run as the console script runs."""
    proc, last = cli_loading(list(args), HEAVY + tuple(also_absent), place)
    assert last == "LOADED [] EXIT 0", f"readiness {' '.join(args)}: {last}"
    assert "Usage" in proc.stdout or ": ok" in proc.stdout


def test_a_sweep_without_the_vault_opens_no_database(place):
    """``check --no-record`` of checks that need no vault (the environment's), with no history on disk: neither
    SQLAlchemy nor the vault's store is imported, and the verdict is still given."""
    absent = ("sqlalchemy", "alembic", "vault.store", "vault.models", "checks.storage", "pandas")
    proc, last = cli_loading(["check", "--no-record", "--only", "env.*", "--format", "json"], absent, place)
    assert last == "LOADED [] EXIT 1"
    assert json.loads(proc.stdout)["verdict"] == "NO-GO"


def test_check_no_record_builds_the_self_tests_vault_on_core_sqlalchemy_and_sqlite_alone(place):
    """The default manifest's vault self-test builds a scratch vault (SQLite in memory) on every ``check``: it
    needs SQLAlchemy Core and its SQLite dialect, never the ORM or the PostgreSQL dialect; and it still passes.
    With nothing configured no provider is called: the retry machinery (tenacity) is not even imported."""
    absent = ("sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "sqlalchemy.ext", "alembic")
    absent += ("tenacity", "xml")  # no provider is called (nothing is configured), the table is not JUnit
    absent += ("click", "pygments")  # httpx's own command line is never loaded (checks.shell.cli.main)
    proc, last = cli_loading(["check", "--no-record", "--format", "json"], absent, place)
    assert last == "LOADED [] EXIT 1"
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    assert results["vault.service.selftest"]["status"] == "pass", results["vault.service.selftest"]["summary"]


def _every_parameter():
    """(command, parameter) by name, for each parameter of every ``readiness`` command as the console script
    builds them (their help made plain, so their values go through checks.shell.cli_coerce)."""
    import typer.main

    from checks.shell.cli import app

    def walk(command, path):
        for param in command.params:
            if getattr(param, "type_descriptor", None) is not None:
                yield f"{path} {param.name}", (command, param)
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    return dict(walk(typer.main.get_command(app), "readiness"))


@pytest.mark.parametrize(
    "raw",
    ["table", "json", "JSON", "3", "-2", "007", "1.5", "1e3", "", " 4", "x", "1_000", "./m.toml", "-", "/etc"]
    + ["9" * 5000, "9" * 40 + ".5"],
)
def test_option_values_are_what_typer_itself_makes_of_them(raw):
    """checks.shell.cli_coerce answers in plain Python only where typer's own coercion (a pydantic adapter) would
    give the same value; every other value, and every refusal, is typer's: same value, same message."""
    from typer._click import Context
    from typer._click.exceptions import BadParameter
    from typer._coercion import build_runtime_param

    from checks.shell.cli_coerce import LightParam

    def outcome(runtime, command, param):
        value = (raw,) if param.multiple or param.nargs == -1 else raw
        try:
            got = runtime.coerce(value, param, Context(command))
        except BadParameter as exc:
            return "refused", exc.format_message()
        return "value", type(got), got

    params = _every_parameter()
    kinds = set()
    for where, (command, param) in params.items():
        light, typer_own = LightParam(param.type_descriptor), build_runtime_param(param.type_descriptor)
        assert outcome(light, command, param) == outcome(typer_own, command, param), where
        kinds.add(repr(param.type_descriptor.annotation))
    assert len(params) > 50
    assert {"<class 'int'>", "<class 'float'>", "<class 'pathlib.Path'>", "list[str]", "<class 'str'>"} <= kinds


def test_the_console_scripts_command_table_names_every_command_in_help_order():
    """``readiness NAME`` imports only ``COMMANDS[NAME]``: the table names each top-level command of the whole
    app, in ``--help``'s order, and each module registers the commands it is named for (fresh interpreters)."""
    import typer.main

    from checks.shell.cli import COMMANDS, app

    assert list(typer.main.get_command(app).commands) == list(COMMANDS)
    code = (
        "import sys, typer.main\n"
        "from checks.shell.cli import app_for\n"
        "print(' '.join(typer.main.get_command(app_for(sys.argv[1:])).commands))\n"
    )
    for module in dict.fromkeys(COMMANDS.values()):
        name = next(n for n, m in COMMANDS.items() if m == module)
        proc = subprocess.run(
            [sys.executable, "-c", code, name, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
        )
        assert proc.stdout.split() == [n for n, m in COMMANDS.items() if m == module], proc.stderr


def test_the_console_script_leaves_pydantic_plugins_off_unless_asked(place, tmp_path):
    """pydantic's plugin search reads every installed distribution's entry points (6 % of `validate`); the
    console script turns it off by pydantic's documented switch, and a caller who sets it decides."""
    site = tmp_path / "site"
    info = site / "pydantic_spy-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pydantic-spy\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pydantic]\nspy = pydantic_spy\n")
    (info / "RECORD").write_text("")
    marker = tmp_path / "spied"
    (site / "pydantic_spy.py").write_text(
        f"open({str(marker)!r}, 'w').write('loaded')\n"
        "def new_schema_validator(*args, **kwargs):  # pydantic's plugin protocol: no event handlers\n"
        "    return None, None, None\n"
    )
    cwd, home = place
    env = {**clean_env(home), "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    cmd = [sys.executable, "-m", "checks.shell.cli", "validate"]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    proc = subprocess.run(
        cmd, cwd=cwd, env={**env, "PYDANTIC_DISABLE_PLUGINS": ""}, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == "loaded"
