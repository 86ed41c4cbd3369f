"""Reading and validating a manifest: where it is found (:func:`default_manifest_path`), the file read under its
size cap (:func:`load_manifest`), and the text checked in order (:func:`parse_manifest`): the size limits of
:mod:`checks.core.manifest_limits`, TOML, the schema version, the pydantic models of
:mod:`checks.core.manifest`, then the cross-references and dependency cycles between sections. Every problem
found becomes one :class:`~checks.core.errors.ManifestError` naming the file and each field path.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import tomli  # tomllib's upstream, compiled: a third of tomllib's time on the 42 KB default manifest
from pydantic import ValidationError

from checks.core.errors import ManifestError
from checks.core.manifest import SCHEMA_VERSION, CheckSpec, Manifest
from checks.core.manifest_limits import MAX_BYTES, MAX_DEPTH, check_data, scan_text

__all__ = ["default_manifest_path", "load_manifest", "parse_manifest"]


def default_manifest_path() -> Path:
    """``READINESS_MANIFEST``, else ``./readiness.toml``, else the STORY-ONB-05 manifest shipped inside."""
    env = os.environ.get("READINESS_MANIFEST")
    if env:
        return Path(env)
    local = Path("readiness.toml")
    if local.exists():
        return local
    return Path(str(resources.files("checks").joinpath("default_manifest.toml")))


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read and validate a manifest file (default: :func:`default_manifest_path`)."""
    path = Path(path) if path is not None else default_manifest_path()
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)  # never more than the cap, whatever the file's size
    except FileNotFoundError:
        raise ManifestError(path, [("", "file not found; pass --manifest PATH or set READINESS_MANIFEST")]) from None
    except OSError as exc:
        raise ManifestError(path, [("", f"cannot be read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise ManifestError(path, [("", f"larger than {MAX_BYTES // 1024} KiB, the most a manifest may be")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ManifestError(path, [(f"line {line}", f"not UTF-8 text (byte 0x{raw[exc.start]:02x})")]) from None
    return parse_manifest(text, source=str(path))


def parse_manifest(text: str, source: str = "<manifest>") -> Manifest:
    """Validate manifest TOML text. Raises :class:`ManifestError` listing every problem found.

    Size limits (:mod:`checks.core.manifest_limits`) are checked first, so hostile input is refused fast.
    """
    if len(text) > MAX_BYTES:
        raise ManifestError(source, [("", f"larger than {MAX_BYTES // 1024} KiB, the most a manifest may be")])
    problems = list(scan_text(text))
    if problems:
        raise ManifestError(source, problems)
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ManifestError(source, [("", f"not valid TOML: {exc}")]) from None
    except ValueError:  # an integer too long for int(): the parser lets Python's conversion limit escape
        raise ManifestError(source, [(_where_digits(text), "a number with thousands of digits")]) from None
    except RecursionError:  # scan_text refuses deep nesting first; this is the backstop
        raise ManifestError(source, [("", f"nested more than {MAX_DEPTH} levels deep")]) from None
    problems = list(check_data(data))
    if problems:
        raise ManifestError(source, problems)
    schema = data.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        problem = f"unsupported manifest schema {schema!r}: this readiness reads schema {SCHEMA_VERSION}"
        raise ManifestError(source, [("schema", problem)])
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(source, [(_loc(e["loc"]), _message(e)) for e in exc.errors()]) from None
    problems = list(_cross_check(manifest))
    if problems:
        raise ManifestError(source, problems)
    manifest._source = source
    manifest._digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return manifest


def _where_digits(text: str) -> str:
    """Best effort at naming where a number too long to parse is: ``[table].key (line N)``."""
    long = re.search(r"\d{4000,}", text)
    if not long:
        return ""
    line = text.count("\n", 0, long.start()) + 1
    headers = re.findall(r"^\s*\[\[?\s*([^\]\n]+?)\s*\]", text[: long.start()], re.MULTILINE)
    key = re.search(r"([A-Za-z0-9_.\"'-]+)\s*=\s*[-+]?$", text[text.rfind("\n", 0, long.start()) + 1 : long.start()])
    field = ".".join(part for part in (headers[-1] if headers else "", key.group(1) if key else "") if part)
    return f"{field} (line {line})" if field else f"line {line}"


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (
            "[" in part and "]" in part and part.split("[")[0] in ("function-after", "function-before", "function-wrap")
        ):
            continue  # pydantic's validator wrappers are not fields
        else:
            out += f".{part}" if out else part
    return out


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check its spelling; unknown keys are rejected)"
    if error["type"] == "missing":
        return "required field is missing"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def _cross_check(m: Manifest) -> Iterator[tuple[str, str]]:
    """References between sections: every id named must exist, ids are unique, no dependency cycle."""
    yield from _unique("areas", [a.id for a in m.areas])
    yield from _unique("items", [i.id for i in m.items])
    yield from _unique("sandboxes", [s.id for s in m.sandboxes])
    yield from _unique("env", [v.name for v in m.env])
    yield from _unique("milestones", [ms.id for ms in m.milestones])
    yield from _unique("escalations", [e.id for e in m.escalations])
    yield from _unique("checks", [c.id for c in m.all_checks])

    areas = {a.id for a in m.areas}
    items = {i.id for i in m.items}
    contacts = set(m.contacts)
    milestones = {ms.id for ms in m.milestones}
    check_ids = {c.id for c in m.all_checks}

    def need(path: str, value: str, known: set[str], what: str) -> Iterator[tuple[str, str]]:
        if value not in known:
            hint = ", ".join(sorted(known)[:8]) or "none declared"
            yield path, f"unknown {what} {value!r} (known: {hint})"

    for n, item in enumerate(m.items):
        yield from need(f"items[{n}].area", item.area, areas, "area")
        yield from need(f"items[{n}].owner", item.owner, contacts, "contact")
    for key, app in m.oauth_apps.items():
        yield from need(f"oauth_apps.{key}.item", app.item, items, "item")
    if m.ghl_proxy:
        yield from need("ghl_proxy.item", m.ghl_proxy.item, items, "item")
    if m.vault:
        yield from need("vault.item", m.vault.item, items, "item")
    for n, sb in enumerate(m.sandboxes):
        yield from need(f"sandboxes[{n}].item", sb.item, items, "item")
    for n, var in enumerate(m.env):
        yield from need(f"env[{n}].item", var.item, items, "item")
    for n, crit in enumerate(m.criteria):
        yield from need(f"criteria[{n}].milestone", crit.milestone, milestones, "milestone")
        for k, pattern in enumerate(crit.checks):
            if not m.match_checks([pattern]):
                yield f"criteria[{n}].checks[{k}]", f"matches no check: {pattern!r}"
    for n, esc in enumerate(m.escalations):
        yield from need(f"escalations[{n}].contact", esc.contact, contacts, "contact")
        for k, it in enumerate(esc.items):
            yield from need(f"escalations[{n}].items[{k}]", it, items, "item")
    for n, risk in enumerate(m.risks):
        for k, it in enumerate(risk.items):
            yield from need(f"risks[{n}].items[{k}]", it, items, "item")
    for n, act in enumerate(m.actions):
        yield from need(f"actions[{n}].milestone", act.milestone, milestones, "milestone")
        for k, it in enumerate(act.items):
            yield from need(f"actions[{n}].items[{k}]", it, items, "item")
    for n, chk in enumerate(m.checks):
        yield from need(f"checks[{n}].item", chk.item, items, "item")
        for k, dep in enumerate(chk.depends_on):
            yield from need(f"checks[{n}].depends_on[{k}]", dep, check_ids, "check")
    for n, route in enumerate(m.notify.routes):
        for k, area in enumerate(route.areas):
            yield from need(f"notify.routes[{n}].areas[{k}]", area, areas, "area")
        for k, contact in enumerate(route.contacts):
            yield from need(f"notify.routes[{n}].contacts[{k}]", contact, contacts, "contact")
    cycle = _find_cycle(m.all_checks)
    if cycle:
        yield "checks", "dependency cycle: " + " -> ".join(cycle)


def _unique(section: str, ids: list[str]) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for n, value in enumerate(ids):
        if value in seen:
            yield f"{section}[{n}]", f"duplicate id {value!r}"
        seen.add(value)


def _find_cycle(checks: list[CheckSpec]) -> list[str] | None:
    deps = {c.id: list(c.depends_on) for c in checks}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in deps.get(node, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep in deps and state.get(dep) is None:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None
