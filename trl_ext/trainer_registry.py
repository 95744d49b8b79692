"""The trainers `trl-ext train NAME` and `scripts/train_NAME.py` run, by name (= the recipe folder `recipes/NAME/`).

A module of its own, importing nothing: the CLI reads it to check a command line before torch is imported.
"""

# name -> ("module:ConfigClass", "module:TrainerClass"); imported only when that trainer is used.
TRAINERS: dict[str, tuple[str, str]] = {
    "passk": ("trl_ext.trainers.passk:PassAtKConfig", "trl_ext.trainers.passk:PassAtKTrainer"),
    "spo": ("trl_ext.trainers.spo:SPOConfig", "trl_ext.trainers.spo:SPOTrainer"),
    "guide": ("trl_ext.trainers.guide:GuideConfig", "trl_ext.trainers.guide:GuideTrainer"),
    "rlef": ("trl_ext.trainers.rlef:RLEFConfig", "trl_ext.trainers.rlef:RLEFTrainer"),
    "cures": ("trl_ext.trainers.cures:CurESConfig", "trl_ext.trainers.cures:CurESTrainer"),
}
# Besides the trainer's config: the parser's other dataclasses (trl_ext.train.make_parser).
SCRIPT_ARGUMENTS = "trl_ext.train:TrainScriptArguments"
MODEL_ARGUMENTS = "trl:ModelConfig"
