"""hw-proxy's entrypoints http routes package."""
