"""pos-api's routers."""
