"""paheko-bridge's routers."""
