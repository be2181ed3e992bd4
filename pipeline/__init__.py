"""Topic-conditioned LaTeX equation generator: prepare, topics, train, sample, validate, report."""
