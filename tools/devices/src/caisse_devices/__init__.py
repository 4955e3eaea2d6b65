"""Caisse's simulated till devices (a receipt printer, a card terminal): what the tests and the demo plug the till
agent into instead of hardware; loopback only."""
