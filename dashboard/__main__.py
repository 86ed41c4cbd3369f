"""``python -m dashboard [streamlit options]``: run the dashboard on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import sys

from streamlit.web import cli as stcli

from dashboard import app_path


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a.startswith("--server.address") for a in args):
        args += ["--server.address", "127.0.0.1"]
    if not any(a.startswith("--browser.gatherUsageStats") for a in args):
        args += ["--browser.gatherUsageStats", "false"]
    if not any(a.startswith("--client.toolbarMode") for a in args):
        args += ["--client.toolbarMode", "viewer"]  # no "Deploy" button, no developer menu
    sys.argv = ["streamlit", "run", str(app_path()), *args]
    sys.exit(stcli.main())


if __name__ == "__main__":
    main()
