"""Storage: the run history (SQLAlchemy Core, Alembic migrations). Builds on :mod:`checks.core` only."""
