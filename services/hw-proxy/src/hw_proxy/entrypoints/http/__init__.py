"""hw-proxy's entrypoints http package."""
