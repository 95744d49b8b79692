"""trl-ext: TRL extensions for training code and reasoning models for inference-time objectives."""

__version__ = "0.1.0"

_LAZY = {"PassAtKConfig": "trl_ext.trainers", "PassAtKTrainer": "trl_ext.trainers", "hub": "trl_ext.hub"}
_LAZY.update({"SPOConfig": "trl_ext.trainers", "SPOTrainer": "trl_ext.trainers"})


def __getattr__(name: str):
    # The trainers import TRL and torch; load them only when asked, so the sandbox and the CLI start fast.
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'trl_ext' has no attribute {name!r}")


__all__ = ["PassAtKConfig", "PassAtKTrainer", "__version__"]
__all__ += ["SPOConfig", "SPOTrainer"]
