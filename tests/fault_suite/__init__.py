"""The fault-injection suite: the product's real processes under a steady write load, one fault at a time."""
