"""``python -m dashboard [streamlit options]``: run the dashboard on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.web import cli as stcli


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a.startswith("--server.address") for a in args):
        args += ["--server.address", "127.0.0.1"]
    if not any(a.startswith("--browser.gatherUsageStats") for a in args):
        args += ["--browser.gatherUsageStats", "false"]
    if not any(a.startswith("--client.toolbarMode") for a in args):
        args += ["--client.toolbarMode", "viewer"]  # no "Deploy" button, no developer menu
    app = Path(__file__).with_name("app.py")  # dashboard.app_path(), without importing the package init
    sys.argv = ["streamlit", "run", str(app), *args]
    sys.exit(stcli.main())


if __name__ == "__main__":
    main()
