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
