"""Storage: the tables, the repositories and the migrations, on SQLite and PostgreSQL."""

from wagate.store.database import Database

__all__ = ["Database"]
