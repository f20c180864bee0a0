"""Pure numpy/scipy measures over distributions and results (no torch import)."""
