"""DESA models: encoders, DualFormer, baselines and heads (desa_reference.md)."""
