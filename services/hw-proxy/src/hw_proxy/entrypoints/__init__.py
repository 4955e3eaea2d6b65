"""hw-proxy's entrypoints package."""
