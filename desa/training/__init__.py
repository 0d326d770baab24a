"""Training loops, datasets and checkpoints of the DESA models and their baselines."""
