"""``--help`` the ordinary click way, in typer's rich panels.

typer (0.29) labels every option with its Python type (``--no-record <bool>``, ``--db <str>``) and puts
required arguments in braces in the usage line (``vault get [OPTIONS] {tenant} {credential_id}``); its
rich markup mode also reads our help texts as markup, so ``[env: READINESS_MANIFEST]`` or ``[auth]`` vanish.
:func:`plain_help` walks a built click command tree once and gives it click's usual help: flags with no
label, values as ``TEXT``, ``PATH``, ``INTEGER`` or ``[table|json]``, arguments as ``TENANT`` in usage lines,
help texts shown as written (paragraphs reflowed, brackets kept).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

from checks.shell.cli_coerce import LightParam
from vault.cli_console import escape

__all__ = ["plain_help"]

_LABELS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN", "Path": "PATH"}


def _label(param: Any) -> str | None:
    """click's label for a parameter's value: ``TEXT``, ``PATH``, ``[table|json]``; None for a flag."""
    if param.metavar is not None:
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    desc = param.type_descriptor
    if desc.is_choice and desc.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices) + "]"
    annotation = desc.annotation
    args = getattr(annotation, "__args__", ())
    if getattr(annotation, "__origin__", None) is list and args:
        annotation = args[0]
    name = getattr(annotation, "__name__", str(annotation))
    return _LABELS.get(name, name.upper())


def _light_runtime_param(self: Any) -> Any:
    """Values coerced in plain Python where that is certain, else by typer (:mod:`checks.shell.cli_coerce`)."""
    if self._runtime_param is None:
        self._runtime_param = LightParam(self.type_descriptor)
    return self._runtime_param


class _Option(TyperOption):
    get_runtime_param = _light_runtime_param

    def display_type_rich(self, ctx: Any) -> str | None:
        return _label(self)


class _Argument(TyperArgument):
    get_runtime_param = _light_runtime_param

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the argument's name says it; click shows no type for arguments

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = (self.metavar or self.name or "").upper()
        if self.nargs != 1:
            name += "..."
        return [name if self.required else f"[{name}]"]


def plain_help(command: Any) -> None:
    """Give ``command`` and every command under it click's usual help (see the module's docstring)."""
    if getattr(command, "_plain_help", False):
        return
    command._plain_help = True
    rich = getattr(command, "rich_markup_mode", None) == "rich"
    for attr in ("help", "short_help", "epilog"):
        text = getattr(command, attr, None)
        if text:
            setattr(command, attr, _shown(_reflowed(text), rich))
    for param in command.params:
        _plain(param)
        if getattr(param, "help", None):
            param.help = _shown(param.help, rich)
    command.get_help_option = _with_plain_result(command.get_help_option)  # --help is made on first use
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


def _plain(param: Any) -> Any:
    if type(param) is TyperOption:
        param.__class__ = _Option
    elif type(param) is TyperArgument:
        param.__class__ = _Argument
    return param


def _with_plain_result(make: Any) -> Any:
    def plain_help_option(ctx: Any) -> Any:
        return _plain(make(ctx))

    return plain_help_option


def _reflowed(text: str) -> str:
    """Each paragraph on one line: typer's rich help keeps a docstring's line breaks where they fell."""
    paragraphs = [" ".join(line.strip() for line in p.strip().splitlines()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _shown(text: str, rich: bool) -> str:
    return escape(text) if rich else text
