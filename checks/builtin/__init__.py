"""The built-in check kinds, one module each (:data:`checks.core.registry.BUILTIN_MODULES` names them; the
registry imports them, importing this package does not), and the helpers they share."""
