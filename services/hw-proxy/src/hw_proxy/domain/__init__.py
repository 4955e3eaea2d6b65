"""hw-proxy's domain: the till's rules, pure (no I/O, no clock)."""
