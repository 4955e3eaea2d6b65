"""hw-proxy's adapters package."""
