"""Caisse's benchmarks: each measures on the real stack and reports beside the targets of PRODUCT.md."""
