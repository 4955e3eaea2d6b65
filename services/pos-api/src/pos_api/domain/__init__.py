"""pos-api's pure domain: rules on tickets, baskets and the hierarchy; no I/O, no clock."""
