"""The application shell: the CLI, the sweep that composes engine, history and vault, and the demo.

The only layer that composes the dashboard, the vault and the stand-ins.
"""
