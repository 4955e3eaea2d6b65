"""Caisse's simulated till devices: what the tests and the demo plug the till agent into instead of hardware."""
