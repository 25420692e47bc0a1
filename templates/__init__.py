"""gradgen's gradient rules, one short entry per primitive (see README.md)."""
