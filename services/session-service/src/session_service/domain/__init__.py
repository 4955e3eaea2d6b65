"""session-service's pure domain: running totals, counts and variance; no I/O, no clock."""
