"""Text task models: masked language model, text classifier, causal language model."""
