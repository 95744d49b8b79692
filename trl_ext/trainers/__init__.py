"""TRL trainers of trl-ext: one module per algorithm (config + trainer)."""

from trl_ext.trainers.passk import PassAtKConfig, PassAtKTrainer
from trl_ext.trainers.spo import SPOConfig, SPOTrainer

__all__ = ["PassAtKConfig", "PassAtKTrainer", "SPOConfig", "SPOTrainer"]
