"""Example functions that gradgen differentiates, taken from the seed posts."""
