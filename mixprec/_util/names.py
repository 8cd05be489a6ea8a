"""The one rule that turns a user's spelling of a name into its key: case, spaces, separators.

Names of presets, datasets, observers and PTQ schemes are looked up by :func:`canonical`:
surrounding spaces dropped, lower case, ``_`` and ``-`` the same separator. Format names
(``fp8_e4m3``) use the same rule with ``_`` as their separator; observer names none.
"""

from __future__ import annotations


def canonical(name: object, separator: str = "-") -> str:
    """The key of ``name``: stripped, lower case, every ``_`` or ``-`` written as ``separator``.

    Args:
        name: the name as the user wrote it (``str()`` is applied).
        separator: ``"-"`` (presets, datasets, schemes), ``"_"`` (format names) or ``""``
            (observers: ``min-max`` is ``minmax``).

    Returns:
        The canonical spelling.

    >>> canonical(" Fashion_MNIST "), canonical("FP8-E4M3", "_")
    ('fashion-mnist', 'fp8_e4m3')
    """
    if separator not in ("-", "_", ""):
        raise ValueError(f"separator={separator!r}: use '-', '_' or ''")
    return str(name).strip().lower().replace("_", "-").replace("-", separator)
