"""🤗 transformers wrappers, Auto-class registration and pipelines for perceiver-core models."""

__all__: list[str] = []
