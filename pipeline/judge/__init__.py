"""Beyond compiling: can a classifier tell generated equations from real ones (two_sample), which topic
an equation is from (classify), which symbols mark a topic (symbols)."""
