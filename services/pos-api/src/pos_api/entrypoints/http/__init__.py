"""pos-api's HTTP edge: routes, dependencies and the mapping of rule errors to problem+json."""
