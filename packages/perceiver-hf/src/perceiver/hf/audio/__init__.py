"""🤗 wrappers of the audio task models."""
