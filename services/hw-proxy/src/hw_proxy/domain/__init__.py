"""hw-proxy's domain package."""
