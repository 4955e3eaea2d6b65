"""hw-proxy's service_layer package."""
