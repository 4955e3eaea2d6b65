"""Caisse's contracts: what services and tills agree on, and nothing else."""
