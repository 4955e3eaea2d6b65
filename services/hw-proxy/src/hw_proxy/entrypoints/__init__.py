"""hw-proxy's entrypoints: the config stream's subscriber and the local HTTP routes."""
