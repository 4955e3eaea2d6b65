"""paheko-bridge's entrypoints."""
