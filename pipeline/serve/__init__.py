"""The serve stage's library: the demo as a local page and a JSON API over a run's model (docs/serve.md)."""
