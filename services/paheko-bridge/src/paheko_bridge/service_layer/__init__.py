"""paheko-bridge's use cases."""
