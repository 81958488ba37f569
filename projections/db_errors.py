"""Whose problem a write error is: the record's (dead-letter it) or the database's (retry). Pure.

Blamed by what the error says, not by where it comes from:

- the record's: SQLSTATE classes 21 (cardinality violation), 22 (data exception: NUL in jsonb, an
  invalid byte sequence, a value out of range), 23 (integrity constraint violation) and 54 (program
  limit exceeded: an index row too large for a long id); and the refusals a client makes before
  the server sees anything, which carry no SQLSTATE: psycopg's DataError (text with NUL) and a
  string with no UTF-8 form (UnicodeEncodeError). Another record of the same batch would go through.
- the database's, which affect every record alike: everything else (a connection lost, a server
  shutting down, a lock or statement timeout, a deadlock, a full disk, a missing table or privilege,
  an internal error), and any error with no SQLSTATE that is not one of the client refusals above:
  what is not known to be a record's fault stalls its group visibly (readiness, an alert) rather
  than dead-lettering every record it meets.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

RECORD_CLASSES = frozenset({"21", "22", "23", "54"})
# Client-side refusals (no SQLSTATE) that are about one value.
RECORD_KINDS = frozenset({"DataError", "UnicodeError"})


class Blame(Enum):
    RECORD = "record"
    DATABASE = "database"


def blame(sqlstate: str | None, kinds: Iterable[str]) -> Blame:
    """Whose problem an error is, from its SQLSTATE (None when the server never answered) and the
    names of its exception classes (its type and their bases)."""
    if sqlstate:
        return Blame.RECORD if sqlstate[:2] in RECORD_CLASSES else Blame.DATABASE
    return Blame.RECORD if RECORD_KINDS & set(kinds) else Blame.DATABASE


def blame_of(e: BaseException) -> Blame:
    """:func:`blame` of an exception (psycopg's carry ``sqlstate``)."""
    return blame(getattr(e, "sqlstate", None), (c.__name__ for c in type(e).__mro__))


def describe(e: BaseException) -> str:
    """One line for a log or a dead letter's reason: the error's type, SQLSTATE and first line."""
    text = str(e).strip().splitlines()
    state = getattr(e, "sqlstate", None)
    return f"{type(e).__name__}{f' [{state}]' if state else ''}: {text[0] if text else ''}"
