"""The TensorFlow side of a run: the model rebuilt from the base file, a frozen copy as the landmark teacher,
Adam with a cosine-decaying learning rate, one epoch of tiles, checkpoints and the ONNX export."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

from facemask_live.detection.detect import DEFAULT_MIN_FACE, RETINAFACE_MEAN_BGR, RetinaFaceDetector

from .export import export_onnx, max_difference
from .loss import distill_loss, landmark_loss, multibox_loss
from .onnx_keras import build_keras, landmark_layers, write_weights
from .optim import RelativeAdam
from .scenes import base_detector
from .tiles import TileBatches

EXPORT_TOLERANCE = 1e-3


class KerasSession:
    """The ``session.run`` of ONNX Runtime over a Keras model, so the app's RetinaFaceDetector (resize, anchor
    decoding, NMS, min face) scores the model being trained exactly as it will run the export."""

    def __init__(self, model):
        spec = tf.TensorSpec([1, None, None, 3], tf.float32)
        self._fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], reduce_retracing=True)

    def run(self, names, feed):
        out = self._fn(feed["input"].transpose(0, 2, 3, 1))
        return [np.asarray(out[n]) for n in names]


class Fit:
    def __init__(self, st, scenes, log: logging.Logger):
        tf.config.threading.set_intra_op_parallelism_threads(st.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        cv2.setNumThreads(1)
        keras.utils.set_random_seed(st.seed)
        self.st, self.log = st, log
        self.model = build_keras(st.base)
        for layer in landmark_layers(self.model):  # the landmark head stays the base model's
            layer.trainable = False
        self.teacher = None
        if st.landmark_weight > 0 or st.distill_weight > 0:
            self.teacher = build_keras(st.base)
            self.teacher.trainable = False
        self.batches = TileBatches(scenes, st.tiles, st.matching, st.seed)
        total = max(1, self.batches.steps(st.batch_size) * st.epochs)
        schedule = keras.optimizers.schedules.CosineDecay(st.lr, total, alpha=0.05)
        self.opt = RelativeAdam(self.model.trainable_variables, schedule, ema=st.ema)
        self._step = tf.function(self._train_step, reduce_retracing=True)
        self._detector = None

    def _train_step(self, x, labels, targets):
        with tf.GradientTape() as tape:
            out = self.model(x, training=True)
            box, cls, _ = multibox_loss(labels, targets, out["loc"], out["conf_logits"], self.st.neg_ratio)
            lm = kd = tf.constant(0.0)
            if self.teacher is not None:
                base = self.teacher(x, training=False)
                lm = landmark_loss(labels, out["landmarks"], tf.stop_gradient(base["landmarks"]))
                if self.st.distill_weight > 0:
                    kd = distill_loss(labels, out["conf_logits"], tf.stop_gradient(base["conf_logits"]))
            loss = self.st.box_weight * box + cls + self.st.landmark_weight * lm + self.st.distill_weight * kd
        self.opt.apply(tape.gradient(loss, self.opt.variables))
        return loss, box, cls, lm, kd

    def epoch(self, number: int) -> dict:
        """Train one pass over the photos; mean losses."""
        from tqdm import tqdm

        sums = np.zeros(5)
        n = self.batches.steps(self.st.batch_size)
        bar = tqdm(self.batches.epoch(self.st.batch_size), total=n, desc=f"epoch {number}/{self.st.epochs}",
                   unit="batch", disable=not self.st.progress, leave=False)
        for i, (x, labels, targets) in enumerate(bar, 1):
            vals = self._step(tf.constant(x), tf.constant(labels), tf.constant(targets))
            sums += [float(v) for v in vals]
            bar.set_postfix(loss=f"{sums[0] / i:.3f}")
        sums /= max(n, 1)
        return {"loss": sums[0], "box_loss": sums[1], "class_loss": sums[2], "landmark_loss": sums[3],
                "distill_loss": sums[4], "learning_rate": self.opt.learning_rate()}

    def base_detector(self) -> RetinaFaceDetector:
        """The app's detector on the base file (ONNX Runtime), at the val threshold."""
        return self._app_detector(None)

    def _app_detector(self, model) -> RetinaFaceDetector:
        det = base_detector(self.st.base, self.st.val_confidence, self.st.threads)
        det.min_size = DEFAULT_MIN_FACE  # the app's --min-face default
        if model is not None:
            det.session = KerasSession(model)
        return det

    def detector(self) -> RetinaFaceDetector:
        """The app's detector running the model being trained."""
        if self._detector is None:
            self._detector = self._app_detector(self.model)
        return self._detector

    def save(self, name: str) -> Path:
        path = Path(self.st.out) / "checkpoints" / f"{name}.weights.h5"
        self.model.save_weights(str(path))
        return path

    def export(self, path: Path, photo: Path) -> dict:
        """Write the ONNX file and check it against the Keras model on a real photo at the app's size."""
        if self.st.export == "tf2onnx":
            export_onnx(self.model, path)
        else:  # the base file's own graph with the new weights: same speed, nothing else changed
            write_weights(self.model, self.st.base, path)
        image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        h, w = image.shape[:2]
        f = 700 / max(h, w)
        size = (round(w * f), round(h * f))
        blob = cv2.dnn.blobFromImage(cv2.resize(image, size), 1.0, size, RETINAFACE_MEAN_BGR)
        diff = max_difference(self.model, path, blob)
        if max(diff.values()) > EXPORT_TOLERANCE:
            raise RuntimeError(f"the ONNX export differs from the Keras model: {diff}")
        RetinaFaceDetector(path.parent)  # the app loads it
        self.log.info("exported %s (max difference to Keras %.2g)", path, max(diff.values()))
        return diff
