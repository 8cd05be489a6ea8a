"""The book's MLP, trained and served under a precision policy.

>>> from mixprec.nn import MLP
>>> MLP.book().n_parameters
104928
"""

from mixprec.nn.layers import (
    affine_backward,
    affine_forward,
    log_softmax,
    relu_backward,
    relu_forward,
    softmax,
    softmax_cross_entropy,
)
from mixprec.nn.model import BOOK_SIZES, MLP, Init

__all__ = [
    "BOOK_SIZES", "MLP", "Init", "affine_backward", "affine_forward", "log_softmax",
    "relu_backward", "relu_forward", "softmax", "softmax_cross_entropy",
]  # fmt: skip
