"""The book's MLP, trained and served under a precision policy.

>>> import tempfile
>>> import mixprec.data as md
>>> from mixprec.nn import MLP, evaluate
>>> from mixprec.train import train
>>> data = md.load(data_dir=md.make_synthetic(tempfile.mkdtemp(), n_train=300, n_test=100))
>>> model = MLP.book(seed=0)
>>> history = train(model, data, policy="bf16", epochs=2, progress=False)
>>> evaluate(model, data.test, policy="int8").accuracy > 0.9
True
>>> MLP.book().n_parameters
104928
"""

from mixprec.nn.compute import backward, forward
from mixprec.nn.evaluate import Evaluation, evaluate, predict
from mixprec.nn.io import FORMAT_VERSION, load, read_metadata, register_kind, save
from mixprec.nn.layers import (
    affine_backward,
    affine_forward,
    log_softmax,
    relu_backward,
    relu_forward,
    softmax,
    softmax_cross_entropy,
)
from mixprec.nn.memory import Counts, MemoryReport, MemoryRow, counts, memory
from mixprec.nn.model import BOOK_SIZES, MLP, Init
from mixprec.nn.numerics import (
    Events,
    Numerics,
    RoundingStats,
    Scaled,
    runs_as_blas,
    tensor_scale,
)
from mixprec.nn.observers import (
    MinMaxObserver,
    MSEObserver,
    NotCalibratedError,
    Observer,
    PercentileObserver,
)
from mixprec.nn.onnx_export import export_onnx, onnx_predict, to_onnx  # onnx imported lazily
from mixprec.nn.policy import LossScaling, MasterWeights, Policy, Scaling
from mixprec.nn.ptq import SCHEMES, QuantizedMLP, Scheme, quantize
from mixprec.nn.requant import Requantization

__all__ = [
    "BOOK_SIZES", "FORMAT_VERSION", "MLP", "Counts", "Evaluation", "Events",
    "Init", "LossScaling", "MasterWeights", "MemoryReport", "MemoryRow", "Numerics",
    "Policy", "QuantizedMLP", "RoundingStats", "Scaled", "Scaling",
    "affine_backward", "affine_forward",
    "backward", "counts",
    "evaluate", "forward", "load", "log_softmax", "memory", "predict", "quantize",
    "read_metadata", "register_kind", "relu_backward", "relu_forward", "runs_as_blas", "save",
    "softmax", "softmax_cross_entropy", "tensor_scale",
    "SCHEMES", "Scheme", "Requantization", "MinMaxObserver", "MSEObserver", "NotCalibratedError",
    "Observer", "PercentileObserver", "export_onnx", "onnx_predict", "to_onnx",
]  # fmt: skip
