"""trl-ext: TRL extensions for training code and reasoning models for inference-time objectives."""

__version__ = "0.1.0"
