"""Sampling from a trained run: what to sample (requests), the sampling session (the model, the <eos>
calibration, the temperature grid, the context examples) and the figures of what came out."""
