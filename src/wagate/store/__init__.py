"""Storage: the tables, the repositories and the migrations, on SQLite and PostgreSQL.

SQL is written here only. Other layers hold a transaction or a connection to pass to
a repository, and see a constraint violation, through the names re-exported here.
"""

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.store.database import Database

__all__ = ["AsyncSession", "Connection", "Database", "IntegrityError"]
