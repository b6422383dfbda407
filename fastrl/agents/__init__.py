"""Thin PyTorch agents: one algorithm per file, each readable top to bottom."""
