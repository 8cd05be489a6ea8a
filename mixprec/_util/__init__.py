"""Private helpers shared by every layer: one home each (see the module docstrings)."""
