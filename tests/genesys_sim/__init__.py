"""A Genesys Cloud simulator: the parts of the API this job uses, over real HTTP on loopback."""
