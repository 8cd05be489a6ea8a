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

from mixprec.nn.compiled import tensor_scale
from mixprec.nn.evaluate import (
    Evaluation,
    PolicyServing,
    Servable,
    Served,
    evaluate,
    image_batch,
    predict,
)
from mixprec.nn.events import Events, RoundingStats
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
from mixprec.nn.modelfile import FORMAT_VERSION, load, read_metadata, save
from mixprec.nn.passes import backward, forward
from mixprec.nn.policy import LossScaling, MasterWeights, Policy, Scaling
from mixprec.nn.spec import Granularity, TensorSpec

__all__ = [
    "BOOK_SIZES", "Counts", "Evaluation", "Events", "FORMAT_VERSION", "Granularity", "Init",
    "LossScaling", "MLP", "MasterWeights", "MemoryReport", "MemoryRow", "Policy", "PolicyServing",
    "RoundingStats", "Scaling", "Servable", "Served", "TensorSpec", "affine_backward",
    "affine_forward", "backward", "counts", "evaluate", "forward", "image_batch", "load",
    "log_softmax", "memory", "predict", "read_metadata", "relu_backward", "relu_forward", "save",
    "softmax", "softmax_cross_entropy", "tensor_scale",
]  # fmt: skip
