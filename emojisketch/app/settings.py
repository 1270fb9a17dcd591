"""App settings (QSettings) and the Settings dialog.

Kept: the classifier kind, the update parameters (k, epochs, learning rate: whatever the
model's ``update_description()`` lists, with its defaults and bounds), the compute device
(CPU, or CUDA when torch sees one) and the inference precision (float32, or the faster
lower-precision bfloat16 / float16, as Core ML 3's MLModelConfiguration offers).

Under ``EMOJISKETCH_HOME`` (tests, portable use) the settings live in ``settings.ini`` there;
otherwise in the platform's usual place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QLabel, QSpinBox, QWidget)

KINDS = {"knn": "k nearest neighbours (Core ML k-NN)", "nn": "neural network head"}
PRECISIONS = {
    "float32": "float32 (exact)",
    "bfloat16": "bfloat16 (lower precision; faster with bf16 hardware)",
    "float16": "float16 (lower precision; faster on GPUs)",
}


def qsettings() -> QSettings:
    home = os.environ.get("EMOJISKETCH_HOME")
    if home:
        return QSettings(str(Path(home) / "settings.ini"), QSettings.IniFormat)
    return QSettings("emojisketch", "emojisketch")


@dataclass
class AppSettings:
    kind: str = "knn"
    device: str = "cpu"
    precision: str = "float32"
    # update parameters set by hand, per classifier kind: {"knn": {"k": 5}, "nn": {...}}
    parameters: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> "AppSettings":
        s = qsettings()
        out = cls(
            kind=str(s.value("model/kind", "knn")),
            device=str(s.value("model/device", "cpu")),
            precision=str(s.value("model/precision", "float32")),
        )
        if out.kind not in KINDS:
            out.kind = "knn"
        if out.precision not in PRECISIONS:
            out.precision = "float32"
        for kind in KINDS:
            s.beginGroup(f"update/{kind}")
            values = {key: s.value(key) for key in s.childKeys()}
            s.endGroup()
            if values:
                out.parameters[kind] = values
        return out

    def save(self) -> None:
        s = qsettings()
        s.setValue("model/kind", self.kind)
        s.setValue("model/device", self.device)
        s.setValue("model/precision", self.precision)
        s.remove("update")
        for kind, values in self.parameters.items():
            s.beginGroup(f"update/{kind}")
            for key, value in values.items():
                s.setValue(key, value)
            s.endGroup()
        s.sync()

    def update_parameters(self, kind: str, specs: dict) -> dict:
        """The parameters to pass to an update of a ``kind`` model whose update description
        lists ``specs``: those set here that it accepts, cast and clamped to its bounds."""
        out = {}
        for name, value in self.parameters.get(kind, {}).items():
            spec = specs.get(name)
            if spec is None:
                continue
            if _get(spec, "type") == "choice":
                if value in (_get(spec, "allowed") or ()):
                    out[name] = value
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            lo, hi = _bound(spec, "min"), _bound(spec, "max")
            if lo is not None:
                value = max(value, lo)
            if hi is not None:
                value = min(value, hi)
            out[name] = int(round(value)) if _get(spec, "type") == "int" else value
        return out


def _get(spec, key):
    return spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)


def _default(spec):
    return _get(spec, "default")


def _bound(spec, key):
    value = _get(spec, key)
    return None if value is None else float(value)


def devices(model, cuda: bool = False) -> list[tuple[str, str]]:
    """(key, name) of the devices predictions can run on: the CPU, and a CUDA GPU where
    ``cuda`` (the session's ``cuda_available()``, asked on the worker) and the model layer can
    move a model there (``with_inference``)."""
    out = [("cpu", "CPU")]
    if cuda and hasattr(model, "with_inference"):
        out.append(("cuda", "CUDA GPU"))
    return out


class SettingsDialog(QDialog):
    """Edits an :class:`AppSettings`; ``description`` is the model's update description."""

    def __init__(self, settings: AppSettings, specs: dict, kind: str,
                 parent: QWidget | None = None, device_choices=(("cpu", "CPU"),)):
        """``specs``: the current model's update parameters (``update_description()
        ["parameters"]``), edited for ``kind``, the current model's classifier kind."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self._specs = specs
        self._kind = kind
        form = QFormLayout(self)
        self.kind = QComboBox(self)
        for key, text in KINDS.items():
            self.kind.addItem(text, key)
        self.kind.setCurrentIndex(max(0, self.kind.findData(settings.kind)))
        self.kind.setToolTip("How your drawings are learned. Changing it converts your model; "
                             "your drawings carry over.")
        form.addRow("Classifier:", self.kind)
        current = settings.parameters.get(kind, {})
        self.fields: dict[str, QWidget] = {}
        for name, spec in specs.items():
            default, kind_of = _default(spec), _get(spec, "type")
            value = current.get(name, default)
            if kind_of == "choice":
                box = QComboBox(self)
                for option in _get(spec, "allowed") or ():
                    box.addItem(str(option).replace("_", " "), option)
                box.setCurrentIndex(max(0, box.findData(value)))
            elif kind_of in ("int", "float"):
                box = QSpinBox(self) if kind_of == "int" else QDoubleSpinBox(self)
                if kind_of == "float":
                    box.setDecimals(5)
                    box.setSingleStep(max(float(default) / 10, 1e-5))
                lo, hi = _bound(spec, "min"), _bound(spec, "max")
                if kind_of == "int":
                    box.setRange(int(lo if lo is not None else 0), int(hi if hi is not None else 10**6))
                    box.setValue(int(float(value)))
                else:
                    box.setRange(lo if lo is not None else 0.0, hi if hi is not None else 1e6)
                    box.setValue(float(value))
            else:
                continue
            box.setToolTip(f"{_get(spec, 'help') or name} (default {default})")
            form.addRow(f"{name.replace('_', ' ').capitalize()}:", box)
            self.fields[name] = box
        self.device = QComboBox(self)
        for key, name in device_choices:
            self.device.addItem(name, key)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))
        self.device.setToolTip("Where predictions run")
        form.addRow("Compute device:", self.device)
        self.precision = QComboBox(self)
        for key, text in PRECISIONS.items():
            self.precision.addItem(text, key)
        self.precision.setCurrentIndex(max(0, self.precision.findData(settings.precision)))
        self.precision.setToolTip("Lower precision can predict faster on GPUs and recent CPUs "
                                  "(on CPUs without bfloat16/float16 units it is slower) and "
                                  "may change the confidences a little; updates always train "
                                  "in float32.")
        form.addRow("Inference precision:", self.precision)
        form.addRow(QLabel(f"The update values are for the {KINDS[kind]} classifier and apply "
                           "from the next update on."))
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel
                                   | QDialogButtonBox.RestoreDefaults, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.RestoreDefaults).clicked.connect(self._defaults)
        form.addRow(buttons)

    def _defaults(self) -> None:
        for name, box in self.fields.items():
            default = _default(self._specs[name])
            if isinstance(box, QComboBox):
                box.setCurrentIndex(max(0, box.findData(default)))
            else:
                box.setValue(default)

    def result_settings(self) -> AppSettings:
        params = {k: dict(v) for k, v in self.settings.parameters.items()}
        mine = {}
        for name, box in self.fields.items():
            value = box.currentData() if isinstance(box, QComboBox) else box.value()
            if value != _default(self._specs[name]):
                mine[name] = value
        params[self._kind] = mine
        return AppSettings(kind=self.kind.currentData(), device=self.device.currentData(),
                           precision=self.precision.currentData(), parameters=params)
