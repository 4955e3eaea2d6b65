"""paheko-bridge's HTTP edge."""
