"""Writes of the assist app (judge runs, approval, AI pairs, augmentation)."""
