"""Reading papers from where they live: arXiv bulk tars, per-paper archives, folders, metadata."""
