"""Closed choices at the API edge: a string (or the member itself) to its ``str`` enum member."""

from __future__ import annotations

import enum
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)


def as_choice(enum_type: type[E], value: object, what: str, hint: str = "") -> E:
    """Convert a string (or the enum member itself) to ``enum_type``, with a helpful error.

    Args:
        enum_type: a closed choice (a ``str`` enum).
        value: the member or its string value.
        what: what the value is, for the error (``"rounding mode"``, ``"Policy.scaling"``).
        hint: appended to the list of allowed values in the error.

    Returns:
        The member of ``enum_type``.

    Raises:
        ValueError: ``value`` is none of the choices; the message lists them.

    >>> import enum
    >>> class Color(str, enum.Enum):
    ...     RED = "red"
    >>> as_choice(Color, "red", "color") is Color.RED
    True
    """
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in enum_type)
        raise ValueError(f"unknown {what} {value!r}; allowed: {allowed}{hint}") from None
