"""The engine's core: the manifest, the check registry, the runner, the verdict and the values they pass.

Nothing here touches a database, the vault's storage or a page; everything above builds on it.
"""
