"""Helpers shared by the repository modules."""

from __future__ import annotations

from typing import Any, TypedDict, TypeVar

from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import Session

from embodied_ai_architect.errors import InputError, NotFoundError
from embodied_ai_architect.store.models import Base

RowT = TypeVar("RowT", bound=Base)

MAX_LIMIT = 1000


class UploadedFileFields(TypedDict):
    """What every uploaded file's row records (the columns of ``store.models._UploadedFile``
    plus format and size): one declaration for the create functions of models and datasets."""

    name: str
    format: str
    sha256: str
    size_bytes: int
    path: str


def not_found(what: str, key: object) -> NotFoundError:
    return NotFoundError(
        f"{what} {key!r} does not exist",
        hint=f"list the existing {what}s first",
        details={"resource": what, "id": str(key)},
    )


def require(session: Session, row_type: type[RowT], key: object, *, what: str) -> RowT:
    row = session.get(row_type, key)
    if row is None:
        raise not_found(what, key)
    return row


def insert(session: Session, row: RowT) -> RowT:
    """Add a new row and flush, so its generated id and defaults are set."""
    session.add(row)
    session.flush()
    return row


def insert_new(session: Session, row_type: type[RowT], /, **columns: Any) -> RowT:
    """Insert a ``row_type`` row built from ``columns``. A column given as None takes the
    default its mapping declares (``{}`` or ``[]`` for the JSON columns, else NULL), so a
    repository function passes its optional arguments through instead of restating those
    defaults."""
    given = {name: value for name, value in columns.items() if value is not None}
    return insert(session, row_type(**given))


def remove(session: Session, row: RowT) -> RowT:
    """Delete a row now (ORM cascades included); the deleted row is returned for the caller."""
    session.delete(row)
    session.flush()
    return row


def check_page(*, offset: int, limit: int) -> None:
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise InputError(
            f"invalid page offset={offset} limit={limit}",
            hint=f"offset >= 0 and 1 <= limit <= {MAX_LIMIT}",
        )


def paginate(
    session: Session, statement: Select[RowT], *, offset: int, limit: int
) -> tuple[list[RowT], int]:
    """Run ``statement`` for one page and also return the total row count."""
    check_page(offset=offset, limit=limit)
    count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = list(session.scalars(statement.offset(offset).limit(limit)))
    return rows, int(count or 0)


def newest_first(
    row_type: type[RowT], session: Session, *, offset: int = 0, limit: int = 100
) -> tuple[list[RowT], int]:
    """One page of ``row_type`` rows, newest (highest id) first, and the total count."""
    (key,) = inspect(row_type).primary_key
    return paginate(session, select(row_type).order_by(key.desc()), offset=offset, limit=limit)
