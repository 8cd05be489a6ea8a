"""Post-training quantization: schemes, observers, the quantized model, integer-only serving,
its model file and ONNX export.

>>> import numpy as np
>>> from mixprec.nn import MLP, evaluate
>>> from mixprec.quant import quantize
>>> model = MLP((6, 4, 3), seed=0)
>>> x = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32)
>>> q = quantize(model, x, scheme="int8-per-channel")
>>> str(q.serving()), q.predict(x[:2]).shape
('int8-per-channel[integer, int8->int32, gemmlowp]', (2, 3))
"""

from mixprec.quant.layered import LayeredQuantizedMLP, LayerScheme, quantize
from mixprec.quant.model import Learned, QuantizedMLP
from mixprec.quant.modelfile import load, save
from mixprec.quant.observers import (
    MinMaxObserver,
    MSEObserver,
    NotCalibratedError,
    Observer,
    PercentileObserver,
)
from mixprec.quant.onnx_export import export_onnx, onnx_predict, to_onnx
from mixprec.quant.requant import Requantization
from mixprec.quant.schemes import SCHEMES, Scheme
from mixprec.quant.serving import QuantizedServing, Trace, trace

__all__ = [
    "SCHEMES", "LayerScheme", "LayeredQuantizedMLP", "Learned", "MSEObserver", "MinMaxObserver",
    "NotCalibratedError", "Observer",
    "PercentileObserver", "QuantizedMLP", "QuantizedServing", "Requantization", "Scheme", "Trace",
    "export_onnx", "load", "onnx_predict", "quantize", "save", "to_onnx", "trace",
]  # fmt: skip
