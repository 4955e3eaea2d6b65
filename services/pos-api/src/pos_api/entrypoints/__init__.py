"""pos-api's entrypoints: the HTTP application, Kafka consumers and the console script."""
