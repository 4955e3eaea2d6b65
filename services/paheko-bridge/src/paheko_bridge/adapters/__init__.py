"""paheko-bridge's adapters."""
