"""Readiness: a live go/no-go view of a release's infrastructure prerequisites.

Importing this package touches neither the network, the disk nor the registry.
"""

__version__ = "0.1.0"
