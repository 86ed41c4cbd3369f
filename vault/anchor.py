"""The external audit anchor: the chain's head, written where the database writer cannot rewrite it.

The head anchor in ``vault_meta`` and the rows' ``audit_seq`` (vault.integrity) catch a database writer who
deletes or edits entries. Two things they cannot catch, because the database is all they look at:

* a **rollback** of the whole database to an older, self-consistent copy (a backup, a snapshot);
* a **KEK holder** who unwraps the audit key and recomputes every mac, the head anchor and the row MACs.

``TOKEN_VAULT_AUDIT_ANCHOR=file:/path`` makes every committed transaction that appended to the chain also
append one line ``{"vault", "seq", "mac", "tag"}`` to that file (opened ``O_APPEND``; make it append-only
for the vault's OS user, e.g. ``chattr +a``, or ship it to a host the database writer cannot reach).
``verify_audit`` then requires the chain to reach the highest anchored seq with the very mac anchored there:
a rolled-back copy is too short, a rewritten chain has another mac. Lines of other vaults (``vault`` is a
key-derived id) are ignored; a torn last line (a crash mid-write) is skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vault.audit import AuditChain
from vault.errors import VaultError
from vault.models import AuditEventRecord

__all__ = ["ENV_ANCHOR", "FileAnchor", "anchor_from_spec"]

ENV_ANCHOR = "TOKEN_VAULT_AUDIT_ANCHOR"


@dataclass(frozen=True)
class FileAnchor:
    """An append-only file of anchored heads."""

    path: Path

    @property
    def spec(self) -> str:
        return f"file:{self.path}"

    def record(self, chain: AuditChain, head: dict[str, Any]) -> None:
        """Append one line for ``head`` (``seq``, ``mac``, ``tag`` as in the head anchor)."""
        line = (
            json.dumps(
                {"vault": chain.vault_id(), "seq": int(head["seq"]), "mac": str(head["mac"]), "tag": str(head["tag"])},
                sort_keys=True,
                separators=(",", ":"),
            )
            + "\n"
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def latest(self, chain: AuditChain) -> dict[str, Any] | None:
        """The anchored head with the highest seq for this vault, or ``None`` when nothing is anchored yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise VaultError(
                f"cannot read the external audit anchor {self.spec} ({type(exc).__name__}): check "
                f"{ENV_ANCHOR} and the file's permissions"
            ) from None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        elif lines:
            lines.pop()  # torn last line: written without its newline when the writer died
        me = chain.vault_id()
        best: dict[str, Any] | None = None
        for line in lines:
            try:
                entry = json.loads(line)
                mine = entry["vault"] == me
                seq = int(entry["seq"])
            except (ValueError, KeyError, TypeError):
                entry, mine, seq = {"malformed": line[:40]}, True, 1 << 62  # report it, do not skip it
            if mine and (best is None or seq > int(best.get("seq", 1 << 62))):
                best = entry
        return best

    def check(
        self, conn: sa.Connection, chain: AuditChain, head: dict[str, Any] | None, last: int
    ) -> tuple[int | None, str] | str:
        """``head`` (read by :meth:`latest` *before* the chain was walked) against a chain ending at ``last``:
        ``(first bad seq, why)`` when broken, else a one-line note for the report."""
        if head is None:
            return f"external anchor {self.spec}: nothing anchored yet"
        if "malformed" in head:
            return None, f"external anchor {self.spec} holds a malformed line (the file was edited)"
        seq, mac = int(head["seq"]), str(head["mac"])
        if not chain.verify_anchor_tag(seq, mac, str(head.get("tag", ""))):
            return None, f"external anchor {self.spec}: the line for seq {seq} does not verify (forged)"
        if seq > last:
            return last + 1, (
                f"external anchor {self.spec} records seq {seq} but the log ends at seq {last}: the "
                "database was rolled back to an older copy or truncated"
            )
        stored = conn.execute(sa.select(AuditEventRecord.mac).where(AuditEventRecord.seq == seq)).scalar_one_or_none()
        if stored != mac:
            return seq, (
                f"external anchor {self.spec}: the entry at seq {seq} is not the one anchored (the chain was rewritten)"
            )
        return f"external anchor {self.spec}: seq {seq} matches"


def anchor_from_spec(spec: str | None) -> FileAnchor | None:
    """``file:/path`` as a :class:`FileAnchor`; ``None`` or empty: no external anchor."""
    if not spec or not spec.strip():
        return None
    scheme, sep, rest = spec.strip().partition(":")
    if scheme != "file" or not sep or not rest:
        raise VaultError(
            f"{ENV_ANCHOR} must be file:/path/to/append-only-file (got a {scheme or 'blank'!r} "
            "anchor); leave it unset for no external anchor"
        )
    path = Path(rest).expanduser()
    if not path.parent.is_dir():
        raise VaultError(
            f"{ENV_ANCHOR}: directory {path.parent} does not exist; create it (writable by the vault "
            "only) or fix the path"
        )
    return FileAnchor(path)
