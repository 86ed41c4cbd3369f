"""vault.cli_console: the consoles rich builds on first use, and rich's markup escape without rich."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.markup import escape as rich_escape

from vault.cli_console import console, escape

SAMPLES = [
    "",
    "plain text",
    "[env: READINESS_MANIFEST; default ./readiness.toml]",
    "[red]error:[/red] [bold]x[/]",
    "a [link=https://x.invalid]link[/link] and [#ff0000]hex[/] and [@click]handler[/]",
    "\\[already escaped] and \\\\[two backslashes]",
    "ends with a backslash \\",
    "ends with two \\\\",
    "[Capital] [1digit] [ space] [] [[nested]] [unterminated",
    "Windows path C:\\Users\\[me]\\",
]


def _every_help_text() -> list[str]:
    import typer.main

    from checks.shell.cli import app

    texts: list[str] = []

    def walk(command):
        texts.extend(t for t in (command.help, command.short_help, command.epilog) if t)
        texts.extend(p.help for p in command.params if getattr(p, "help", None))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return texts


@pytest.mark.parametrize("text", SAMPLES)
def test_escape_is_riches_own(text):
    assert escape(text) == rich_escape(text)
    if not text.endswith("\\"):  # rich itself shows a trailing backslash doubled
        shown = io.StringIO()
        Console(file=shown, width=400).print(escape(text), end="")
        assert shown.getvalue() == text


def test_escape_is_riches_own_on_every_help_text():
    texts = _every_help_text()
    assert len(texts) > 50
    assert [escape(t) for t in texts] == [rich_escape(t) for t in texts]


def test_a_lazy_console_prints_as_a_console_with_its_settings(capsys):
    out, err = console(highlight=False), console(stderr=True, highlight=False)
    out.print("[bold]hello[/bold] 42", soft_wrap=True)
    err.print(f"[red]error:[/red] {escape('[x] 7')}", soft_wrap=True)
    captured = capsys.readouterr()
    assert captured.out == "hello 42\n"
    assert captured.err == "error: [x] 7\n"
    assert err.stderr is True and out.stderr is False and out.is_terminal is False


def test_rich_is_handed_the_console_itself_and_a_progress_bar_draws_on_a_terminal(monkeypatch):
    """`check` on a terminal: its progress bar enters the console as a context manager (which a stand-in cannot
    be), so the bar gets the real console; the sweep still ends with its verdict."""
    from typer.testing import CliRunner

    import checks.shell.cli_app as cli_app
    import checks.shell.cli_check as cli_check
    from checks.shell.cli import app
    from vault.cli_console import real

    drawn = io.StringIO()
    terminal = console(file=drawn, force_terminal=True, width=100)
    assert isinstance(real(terminal), Console) and real(terminal) is real(terminal)
    monkeypatch.setattr(cli_check, "err", terminal)
    monkeypatch.setattr(cli_app, "err", terminal)
    result = CliRunner().invoke(app, ["check", "--no-record", "--only", "env.*", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert '"verdict": "NO-GO"' in result.stdout
    assert "env." in drawn.getvalue()  # the bar named the checks as they finished
