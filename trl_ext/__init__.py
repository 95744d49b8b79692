"""trl-ext: TRL extensions for training code and reasoning models for inference-time objectives."""

__version__ = "0.1.0"

_TRAINERS = ("PassAtK", "SPO", "Guide", "CurES", "RLEF")
_LAZY = {f"{name}{kind}": "trl_ext.trainers" for name in _TRAINERS for kind in ("Config", "Trainer")}
_LAZY.update({"CurriculumArguments": "trl_ext.trainers", "CurriculumMixin": "trl_ext.trainers"})
_LAZY["hub"] = "trl_ext.hub"


def __getattr__(name: str):
    # The trainers import TRL and torch; load them only when asked, so the sandbox and the CLI start fast.
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'trl_ext' has no attribute {name!r}")


__all__ = [name for name in _LAZY if name != "hub"] + ["__version__"]
