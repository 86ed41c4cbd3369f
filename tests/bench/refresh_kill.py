"""How many credentials does a refresher crash cost? Prints one JSON object.

Kills a refresher process with SIGKILL at a random moment of its cycle (``--runs`` times per database and
provider), restarts one past the dead one's lease, and counts credentials that ended in ``needs_reauth``
(see ``tests/vault/kill_harness.py``). ``--mode window`` kills inside the stand-in right after it issued a
new token instead: the irreducible window, hit every time.

    python tests/bench/refresh_kill.py --runs 20 --credentials 400 --db sqlite,postgresql --provider ghl

PostgreSQL: ``READINESS_TEST_PG_URL`` (default the test database on 127.0.0.1); a fresh schema, dropped after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import uuid
from pathlib import Path

# This directory holds vault.py (a bench), which would shadow the vault package; the repository root goes
# last, so PYTHONPATH can point at another copy of the code (how the "before" figures were measured).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE.parents[1])]

from tests.vault.kill_harness import kill_runs  # noqa: E402

PG_URL = os.environ.get("READINESS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--credentials", type=int, default=400)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--provider", default="ghl")
    parser.add_argument("--mode", choices=["random", "window"], default="random")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import vault

    results = []
    for db in args.db.split(","):
        for provider in args.provider.split(","):
            if db == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    res = kill_runs(
                        f"sqlite:///{tmp}/vault.db",
                        provider=provider,
                        n=args.credentials,
                        runs=args.runs,
                        mode=args.mode,
                        seed=args.seed,
                    )
            else:
                res = _on_pg(provider, args)
            entry = res.as_dict()
            entry["errors"] = sorted(set(entry["errors"]))
            results.append(entry)
    print(
        json.dumps(
            {
                "bench": "refresh_kill",
                "vault_code": str(Path(vault.__file__).parent),
                "python": platform.python_version(),
                "runs": args.runs,
                "credentials": args.credentials,
                "mode": args.mode,
                "seed": args.seed,
                "results": results,
                "summary": [
                    {k: r[k] for k in ("db", "provider", "runs", "kills", "lost", "lost_explained")} for r in results
                ],
            }
        )
    )
    return 0


def _on_pg(provider: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        return kill_runs(
            f"{PG_URL}{sep}options=-csearch_path%3D{schema}",
            provider=provider,
            n=args.credentials,
            runs=args.runs,
            mode=args.mode,
            seed=args.seed,
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
