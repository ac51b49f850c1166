"""🤗 datasets as PyTorch Lightning data modules for perceiver models."""
