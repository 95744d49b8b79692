"""TRL trainers of trl-ext: one module per algorithm (config + trainer)."""

from trl_ext.trainers.guide import GuideConfig, GuideTrainer
from trl_ext.trainers.passk import PassAtKConfig, PassAtKTrainer

__all__ = ["PassAtKConfig", "PassAtKTrainer"]
__all__ += ["GuideConfig", "GuideTrainer"]
