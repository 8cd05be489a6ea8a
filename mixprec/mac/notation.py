"""The options of the MAC notation ``input[->product]->accumulator[:option...]``, table-driven.

Each option is a token, or a token and one integer argument (``chunked:64``, ``promote:128``,
``random_bits:8``). :data:`_TAKES_ARGUMENT` and :func:`_keyword_of` are the whole grammar: a new
option is one entry there and one keyword of :class:`mixprec.mac.MAC`.
"""

from __future__ import annotations

from mixprec.formats.spec import Overflow, Rounding
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.tensor_cores import ALIASES, TENSOR_CORES

__all__ = ["GRAMMAR", "parse_options"]

GRAMMAR = (
    "options are an overflow policy (wrap, saturate, inf), an order (sequential, pairwise, fast, "
    "chunked:N), a rounding mode (nearest_even, nearest_away, toward_zero, up, down, odd, "
    "stochastic), random_bits:N (N-bit stochastic rounding), a tensor-core GPU ("
    + ", ".join(sorted([*TENSOR_CORES, *ALIASES]))
    + ") and promote:N (N products in the tensor core, then into an fp32 accumulator)"
)

# token -> (MAC keyword, how its integer argument becomes the value)
_TAKES_ARGUMENT = {"chunked": "order", "promote": "promote", "random_bits": "random_bits"}


def _keyword_of(token: str) -> str | None:
    """The MAC keyword a one-token option sets, or None."""
    if token in {o.value for o in OrderKind}:
        return "order"
    if token in {o.value for o in Overflow}:
        return "overflow"
    if token in {r.value for r in Rounding}:
        return "rounding"
    if token in TENSOR_CORES or token in ALIASES:
        return "gpu"
    return None


def parse_options(notation: str, options: list[str]) -> dict[str, object]:
    """MAC keywords from the ``:``-separated options of ``notation``.

    Raises:
        ValueError: an unknown option, a missing or non-integer argument, or a keyword given
            twice; the message lists the grammar.
    """
    kwargs: dict[str, object] = {}
    tokens = [t.strip().lower() for t in options]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        value: object
        if token in _TAKES_ARGUMENT:
            argument = tokens[i + 1] if i + 1 < len(tokens) else ""
            if not argument.isdigit():
                raise ValueError(
                    f"MAC notation {notation!r}: write {token!r} with an integer, '{token}:N', "
                    f"e.g. '{token}:64'"
                )
            key = _TAKES_ARGUMENT[token]
            value = Order.parse(f"chunked:{argument}") if key == "order" else int(argument)
            i += 2
        else:
            found = _keyword_of(token)
            if found is None:
                raise ValueError(
                    f"unknown option {token!r} in MAC notation {notation!r}; {GRAMMAR}"
                )
            key, value, i = found, Order.parse(token) if found == "order" else token, i + 1
        if key in kwargs:
            raise ValueError(f"MAC notation {notation!r} gives the {key} twice")
        kwargs[key] = value
    return kwargs
