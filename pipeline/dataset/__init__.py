"""The training data the model stages read: paper splits, deduplicated equations, token streams."""
