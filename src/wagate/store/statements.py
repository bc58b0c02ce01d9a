"""Statement builders the repositories share for their set-based writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection


def insert_for(dialect: str) -> Any:
    """The dialect's ``insert`` (it has ``on_conflict_do_nothing``): PostgreSQL's or SQLite's."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


def update_by_key(
    conn: Connection,
    table: Table,
    key: str,
    changes: Iterable[tuple[Any, dict[str, Any], dict[str, Any]]],
) -> None:
    """Apply (key value, columns to set, amounts to add to columns) to rows of ``table``.

    Changes of one shape (the same columns set and added to) go out as one
    ``executemany``; a batch has a few shapes, whatever its size.
    """
    shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
    for value, sets, adds in changes:
        names, added = tuple(sorted(sets)), tuple(sorted(adds))
        params = {f"b_{name}": sets[name] for name in names}
        params.update({f"b_add_{name}": adds[name] for name in added})
        params["b_key"] = value
        shapes.setdefault((names, added), []).append(params)
    for (names, added), rows in shapes.items():
        assignments: dict[str, Any] = {name: bindparam(f"b_{name}") for name in names}
        for name in added:
            assignments[name] = table.c[name] + bindparam(f"b_add_{name}")
        statement = update(table).where(table.c[key] == bindparam("b_key")).values(assignments)
        conn.execute(statement, rows)
