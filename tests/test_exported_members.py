"""The public surface is explicit: every name in __all__ exists and nothing private leaks in."""

import checks
import vault


def test_checks_all_is_exactly_the_public_surface():
    public = {name for name in dir(checks) if not name.startswith("_")}
    exported = set(checks.__all__)
    assert exported <= public
    modules = {name for name in public - exported if type(getattr(checks, name)).__name__ == "module"}
    assert public - exported - modules == set(), "public names missing from __all__"


def test_vault_all_is_exactly_the_public_surface():
    public = {name for name in dir(vault) if not name.startswith("_")}
    exported = set(vault.__all__)
    assert exported <= public
    modules = {name for name in public - exported if type(getattr(vault, name)).__name__ == "module"}
    assert public - exported - modules == set(), "public names missing from __all__"


def test_the_notebook_modules_export_what_the_notebooks_call():
    from checks.presentation import analysis, notebook_html
    from checks.shell import notebook

    for module, names in [
        (analysis, {"check_history", "write_html", "time_to_green", "checkpoint_diff"}),
        (notebook, {"history_or_demo", "NotebookHistory", "checkpoint_report", "DEMO_DIR"}),
        (notebook_html, {"CheckHistory", "run_html", "verdict_html", "report_html", "check_history_html"}),
    ]:
        assert names <= set(module.__all__)
        assert all(hasattr(module, name) for name in module.__all__)
