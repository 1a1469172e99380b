"""Benchmarks of robustlab against the obvious alternatives (torchattacks, plain PyTorch loops)."""
