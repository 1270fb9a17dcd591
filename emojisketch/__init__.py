"""emojisketch: draw a doodle, get an emoji, and teach it yours (Core ML 3 style, on the desktop).

The public face, imported lazily so that ``import emojisketch`` stays cheap:

* ``load_model(path=None, kind=None)``: the personalizable model (the shipped base by default).
* ``Drawing``, ``to_image``: strokes and the one ink pipeline to the model's 28x28 input.
* ``UpdateTask``: model + examples -> a new model, with events, cancellable.
* ``Store``: the user's examples and personalized models on disk.
* ``export_model``: a Core ML updatable ``.mlmodel``.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "emojisketch.model",
    "Example": "emojisketch.model",
    "UpdatableModel": "emojisketch.model",
    "Drawing": "emojisketch.ink",
    "to_image": "emojisketch.ink",
    "UpdateTask": "emojisketch.update",
    "Store": "emojisketch.store",
    "export_model": "emojisketch.coreml.export",
    "EmojisketchError": "emojisketch.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emojisketch' has no attribute {name!r}")
