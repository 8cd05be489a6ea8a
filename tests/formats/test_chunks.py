"""Large inputs run in chunks (issue 12.4): the results do not depend on the chunk size."""

from __future__ import annotations

import numpy as np
import pytest

import mixprec as mp
from mixprec.formats import chunks


@pytest.mark.parametrize("name", ["fp8_e5m2", "e9m40", "int8", "fixed<8,4>", "bf16"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_results_equal_one_piece(
    name: str, dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(10_003) * 50).astype(dtype).reshape(7, 1429)
    whole = {
        "quantize": mp.quantize(x, name),
        "stochastic": mp.quantize(x, name, rounding="stochastic", rng=9),
        "bits": mp.quantize(x, name, rounding="stochastic", rng=9, random_bits=4),
        "encode": mp.encode(x, name),
    }
    monkeypatch.setattr(chunks, "CHUNK", 1000)  # 11 chunks, the last one short
    pieces = {
        "quantize": mp.quantize(x, name),
        "stochastic": mp.quantize(x, name, rounding="stochastic", rng=9),
        "bits": mp.quantize(x, name, rounding="stochastic", rng=9, random_bits=4),
        "encode": mp.encode(x, name),
    }
    for key, expected in whole.items():
        assert pieces[key].shape == x.shape and pieces[key].dtype == expected.dtype, key
        np.testing.assert_array_equal(pieces[key], expected, err_msg=key)
    np.testing.assert_array_equal(mp.decode(pieces["encode"], name), whole["quantize"])


def test_map_chunks_fills_a_preallocated_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "CHUNK", 4)
    calls: list[int] = []

    def double(part: np.ndarray) -> np.ndarray:
        calls.append(part.size)
        return part * 2

    out = chunks.map_chunks(double, np.arange(10.0), np.float32)
    assert out.dtype == np.float32 and out.tolist() == [2.0 * i for i in range(10)]
    assert calls == [4, 4, 2]
