"""Training with PyTorch Lightning: data module, training module, evaluation, callbacks."""
