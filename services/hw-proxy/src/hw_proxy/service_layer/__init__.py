"""hw-proxy's use cases, over the ports they need (`ports.py`)."""
