"""paheko-bridge's adapters to a company's Paheko: the pos_bridge plugin's client, its requests and answers, the target."""
