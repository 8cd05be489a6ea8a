"""Fixtures of the mixprec.quant tests: those of tests/nn (a small synthetic dataset)."""

from tests.nn.conftest import synthetic, synthetic_dir

__all__ = ["synthetic", "synthetic_dir"]
