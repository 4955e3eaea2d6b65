"""pos-api: what tills and the back office call; owns the hierarchy, the catalogue, baskets and tickets."""
