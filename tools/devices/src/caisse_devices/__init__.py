"""Simulators of the devices a till drives (card terminal), for the tests and the demo; loopback only."""
