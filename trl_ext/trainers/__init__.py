"""TRL trainers of trl-ext: one module per algorithm (config + trainer)."""

from trl_ext import schedules  # noqa: F401  (registers lr_scheduler_type rex and refined for every config)
from trl_ext.trainers.cures import CurESConfig, CurESTrainer, CurriculumArguments, CurriculumMixin
from trl_ext.trainers.guide import GuideConfig, GuideTrainer
from trl_ext.trainers.passk import PassAtKConfig, PassAtKTrainer
from trl_ext.trainers.rlef import RLEFConfig, RLEFTrainer
from trl_ext.trainers.spo import SPOConfig, SPOTrainer

__all__ = [
    "CurESConfig",
    "CurESTrainer",
    "CurriculumArguments",
    "CurriculumMixin",
    "GuideConfig",
    "GuideTrainer",
    "PassAtKConfig",
    "PassAtKTrainer",
    "RLEFConfig",
    "RLEFTrainer",
    "SPOConfig",
    "SPOTrainer",
]
