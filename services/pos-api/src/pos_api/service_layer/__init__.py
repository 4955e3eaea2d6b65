"""pos-api's use cases, one async function each, over the ports of `ports.py`."""
