"""The network: a plain PyTorch module, its decoding and its model file (no Lightning, no Hydra)."""
