"""The export formats, one small class each, and loading a .keras file in safe mode."""

from __future__ import annotations

import functools
import importlib.util
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from automl.errors import ConfigError, ExportError, UnsafeModelError

if TYPE_CHECKING:
    import keras
    import numpy as np


# Validation samples every format's predictions are compared on.
VERIFY_SAMPLES = 50
# Largest allowed difference of any class probability between a format and the Keras model. float32
# graphs rewritten by converters differ by ~1e-6; a real fault (an op computed differently, augmentation
# left active) shows up as 1e-2 or more.
VERIFY_TOLERANCE = 1e-4
EXPORT_EXTRA = "pip install 'automl[export]'"

Predictor = Callable[["np.ndarray"], "np.ndarray"]


# --- formats: one small class each ---------------------------------------------------------------------
class ExportFormat:
    """How one format is written, and loaded back with its own runtime."""

    name: str
    artifact: str  # file or folder name inside the export folder
    requires: tuple[str, ...] = ()  # importable modules the format needs
    description: str = ""
    tensorflow_graph = True  # written from a TensorFlow-backend Keras (see the module docstring)

    def missing_modules(self) -> list[str]:
        return [module for module in self.requires if importlib.util.find_spec(module) is None]

    def write(self, model: keras.Model, path: Path) -> None:
        raise NotImplementedError

    def load(self, path: Path) -> Predictor:
        raise NotImplementedError


class KerasFormat(ExportFormat):
    name, artifact = "keras", "model.keras"
    description = "Keras archive; automl loads it in safe mode"
    tensorflow_graph = False  # the same archive from any backend

    def write(self, model: keras.Model, path: Path) -> None:
        model.save(path)

    def load(self, path: Path) -> Predictor:
        model = load_keras_model(path)
        return lambda x: model.predict(x, batch_size=256, verbose=0)


class SavedModelFormat(ExportFormat):
    name, artifact = "saved_model", "saved_model"
    description = "TensorFlow SavedModel (signature 'serve') for TF Serving and tf.saved_model.load"

    def write(self, model: keras.Model, path: Path) -> None:
        model.export(str(path), format="tf_saved_model", verbose=False)

    def load(self, path: Path) -> Predictor:
        import numpy as np
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return lambda x: np.concatenate([loaded.serve(x[i:i + 256]).numpy() for i in range(0, len(x), 256)])


class LiteRTFormat(ExportFormat):
    name, artifact = "litert", "model.tflite"
    requires = ("ai_edge_litert",)
    description = "LiteRT / TensorFlow Lite flat buffer for mobile and edge devices"

    def write(self, model: keras.Model, path: Path) -> None:
        from automl.keras_backend import native_logs_filtered

        with native_logs_filtered():  # the converter's C++ lines (MLIR passes, SavedModel reads) are noise here
            model.export(str(path), format="litert", verbose=False)

    def load(self, path: Path) -> Predictor:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter

        from automl.keras_backend import native_logs_filtered

        with native_logs_filtered():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = Interpreter(model_path=str(path))
            interpreter.allocate_tensors()
        source = interpreter.get_input_details()[0]["index"]
        target = interpreter.get_output_details()[0]["index"]

        def predict(x: np.ndarray) -> np.ndarray:
            interpreter.resize_tensor_input(source, list(x.shape))
            interpreter.allocate_tensors()
            interpreter.set_tensor(source, np.ascontiguousarray(x, dtype=np.float32))
            interpreter.invoke()
            return interpreter.get_tensor(target).copy()

        return predict


class OnnxFormat(ExportFormat):
    name, artifact = "onnx", "model.onnx"
    requires = ("tf2onnx", "onnx", "onnxruntime")
    description = "ONNX graph for onnxruntime and other ONNX runtimes"

    def write(self, model: keras.Model, path: Path) -> None:
        import logging

        logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # it logs every graph rewrite at INFO
        _register_onnx_erfc()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx patch probes np.object
            model.export(str(path), format="onnx", verbose=False)

    def load(self, path: Path) -> Predictor:
        import numpy as np
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        return lambda x: session.run(None, {input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]


@functools.cache
def _register_onnx_erfc() -> None:
    """Teach tf2onnx TensorFlow's ``Erfc`` op as ``1 - Erf(x)``.

    Exact GELU (the ``gelu`` activation of Keras, offered by the built-in ``mlp``) lowers to ``Erfc`` in
    TensorFlow, which tf2onnx 1.17 cannot convert; ONNX has ``Erf`` since opset 9.
    """
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            x = node.input[0]
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(x))
            erf = ctx.make_node("Erf", [x], op_name_scope=node.name).output[0]
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype)).output[0]
            outputs, shapes, dtypes = node.output, ctx.get_shape(node.output[0]), [ctx.get_dtype(node.output[0])]
            ctx.remove_node(node.name)
            ctx.make_node("Sub", [one, erf], outputs=outputs, shapes=[shapes], dtypes=dtypes, name=node.name)


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (KerasFormat(), SavedModelFormat(), LiteRTFormat(),
                                                        OnnxFormat())}
SEARCH_FORMATS = ("keras", "saved_model")  # exported at the end of every search


def resolve_formats(names: str | Sequence[str] | None) -> list[ExportFormat]:
    """``"keras,onnx"`` or a list → format objects; every optional dependency is checked before any work."""
    if names is None:
        names = list(FORMATS)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--format needs at least one of: {', '.join(FORMATS)}.")
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown export format(s) {unknown}; choose from: {', '.join(FORMATS)} "
                          "(comma-separated, e.g. --format keras,onnx).")
    formats = [FORMATS[n] for n in dict.fromkeys(names)]
    missing = {f.name: f.missing_modules() for f in formats if f.missing_modules()}
    if missing:
        listed = "; ".join(f"{name} needs {', '.join(modules)}" for name, modules in missing.items())
        raise ExportError(f"export format(s) {', '.join(missing)} cannot be written here: {listed}. "
                          f"Install the optional dependencies with: {EXPORT_EXTRA}")
    return formats


# --- safe loading --------------------------------------------------------------------------------------
def load_keras_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` archive in Keras' safe mode; refuse anything that would run code from the file."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"model file {str(path)!r} does not exist; pass a .keras file written by automl or Keras.")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise UnsafeModelError(
            f"{path} is not a .keras archive; automl only loads .keras files, in Keras' safe mode (legacy .h5 and "
            "pickled models can run code when loaded). Re-save the model with model.save('model.keras')."
        )
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        if "safe_mode" not in str(exc) and "arbitrary code" not in str(exc):
            raise
        raise UnsafeModelError(
            f"{path} was refused: it holds Python code that would run when loaded (a Lambda layer or another "
            f"serialized function), and automl loads models in Keras' safe mode only. Keras said: {exc} "
            "Rebuild the model without Lambda layers (write a registered custom layer instead)."
        ) from None
