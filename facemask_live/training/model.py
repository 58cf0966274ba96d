"""The network (MobileNetV2 base + small softmax head) and its two training stages (head, then fine-tuning)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facemask_live.core.errors import ModelError


@dataclass(frozen=True)
class StageSettings:
    head_epochs: int = 4
    fine_tune_epochs: int = 8
    lr: float = 1e-3
    fine_tune_lr_factor: float = 0.1
    fine_tune_layers: int = 60  # top base layers unfrozen in stage 2 (<= 0: all)
    patience: int = 3
    steps_per_epoch: int = 0  # 0: one pass over the data (tests use a few steps)
    verbose: int = 1
    label_smoothing: float = 0.0  # target 1 - e on the label, e / n spread over all classes (0: plain labels)


@dataclass
class Checkpoint:
    """Where the best weights so far go, and the state file that lets ``export`` redo the export."""

    model_path: Path
    state_path: Path
    state: dict = field(default_factory=dict)

    def save_state(self) -> None:
        try:
            self.state_path.write_text(json.dumps(self.state))
        except OSError as e:
            print(f"warning: cannot write {self.state_path}: {e}", file=sys.stderr)


def build_model(keras, n_classes: int, size: int, weights, dropout: float):
    """(model, base): the ImageNet MobileNetV2 base (BatchNorm in inference mode) + pooling, dropout, softmax."""
    try:
        base = keras.applications.MobileNetV2(include_top=False, weights=weights, input_shape=(size, size, 3))
    except Exception as e:  # noqa: BLE001 - download failure / bad file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"cannot load MobileNetV2 base weights ({weights or 'none'}): {msg[:200]}") from None
    inp = keras.Input((size, size, 3), name="image")
    x = base(inp, training=False)  # BatchNorm stays in inference mode, also when fine-tuning
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outp = keras.layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, outp, name="mask_classifier"), base


def best_keeper(keras, patience: int, ckpt: Checkpoint):
    """A callback keeping the weights of the lowest validation loss (saved to the checkpoint), early stopping."""

    class BestKeeper(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best, self.best_acc, self.best_weights, self.wait = np.inf, 0.0, None, 0

        def on_train_begin(self, logs=None):
            self.wait = 0

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            v = logs.get("val_loss", np.inf)
            if v < self.best:
                self.best, self.best_acc, self.wait = v, logs.get("val_accuracy", 0.0), 0
                self.best_weights = [w.copy() for w in self.model.get_weights()]
                try:
                    self.model.save(ckpt.model_path)
                except Exception as e:  # noqa: BLE001
                    print(f"warning: checkpoint not saved: {e}", file=sys.stderr)
                print(f"  best so far: val_loss {v:.4f} val_accuracy {self.best_acc:.4f}", file=sys.stderr)
            else:
                self.wait += 1
            for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
                ckpt.state["history"].setdefault(k, []).append(float(logs.get(k, float("nan"))))
            ckpt.state["info"]["best_val_loss"] = round(float(self.best), 5)
            ckpt.save_state()
            if self.wait and self.wait >= patience:
                print(f"  early stopping: no val_loss improvement for {self.wait} epoch(s)", file=sys.stderr)
                self.model.stop_training = True

    return BestKeeper()


def unfreeze_top(keras, base, n_layers: int) -> int:
    """Make the top ``n_layers`` of the base trainable (BatchNorm stays frozen); returns how many have weights."""
    base.trainable = True
    n_ft = len(base.layers) if n_layers <= 0 else n_layers
    for layer in base.layers[:-n_ft]:
        layer.trainable = False
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return sum(1 for layer in base.layers if layer.trainable and layer.weights)


def smoothed_sparse_crossentropy(keras, smoothing: float):
    """Cross-entropy of integer labels against smoothed one-hot targets. Why: the scene photos' labels are
    noisy (a review of the disagreements found masked faces annotated as unmasked and chin masks annotated
    either way), and a model trained on hard targets learns those as certainties."""
    ops = keras.ops

    def loss(y_true, y_pred):
        n = ops.shape(y_pred)[-1]
        onehot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), n)
        return keras.losses.categorical_crossentropy(onehot * (1.0 - smoothing) + smoothing / n, y_pred)

    return loss


@dataclass
class FitResult:
    history: dict
    head_epochs: int
    fine_tune_epochs: int
    interrupted: bool
    best_val_loss: float


class TwoStageFit:
    """Stage 1 trains the new head on the frozen base; stage 2 fine-tunes the top of the base with a
    lower, cosine-decaying learning rate.  Ctrl+C / SIGTERM / SIGUSR1 stop it; the best weights are kept."""

    def __init__(self, keras, model, base, settings: StageSettings, ckpt: Checkpoint):
        self.keras, self.model, self.base, self.s = keras, model, base, settings
        self.keeper = best_keeper(keras, settings.patience, ckpt)
        self.history: dict = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
        self.interrupted = False
        self.ckpt = ckpt

    def _stage(self, epochs: int, title: str, ds_tr, ds_va, class_weight: dict, steps: int) -> int:
        if epochs <= 0 or self.interrupted:
            return 0
        print(f"== {title} ({epochs} epoch(s), {steps} steps each) ==", file=sys.stderr)
        kw = dict(validation_data=ds_va, class_weight=class_weight, verbose=self.s.verbose, callbacks=[self.keeper])
        if self.s.steps_per_epoch:
            kw["steps_per_epoch"] = self.s.steps_per_epoch
        h = None
        try:
            h = self.model.fit(ds_tr, epochs=epochs, **kw)
        except KeyboardInterrupt:
            self.interrupted = True
            print("\ninterrupted: stopping training, exporting the best checkpoint so far", file=sys.stderr)
        if h is None:
            h = getattr(self.model, "history", None)
        got = getattr(h, "history", None) or {}
        for k in self.history:
            self.history[k] += [float(v) for v in got.get(k, [])]
        return len(got.get("loss", []))

    def _compile(self, lr) -> None:
        loss = "sparse_categorical_crossentropy"
        if self.s.label_smoothing > 0:
            loss = smoothed_sparse_crossentropy(self.keras, self.s.label_smoothing)
        self.model.compile(optimizer=self.keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])

    def run(self, ds_tr, ds_va, class_weight: dict, steps: int) -> FitResult:
        s = self.s
        self.base.trainable = False
        self._compile(s.lr)
        n1 = self._stage(s.head_epochs, "stage 1: training the new head on the frozen base", ds_tr, ds_va,
                         class_weight, steps)
        self.ckpt.state["history"]["stage1_epochs"] = n1
        n2 = 0
        if s.fine_tune_epochs > 0 and not self.interrupted:
            if self.keeper.best_weights is not None:
                self.model.set_weights(self.keeper.best_weights)
            n_trainable = unfreeze_top(self.keras, self.base, s.fine_tune_layers)
            ft_lr = s.lr * s.fine_tune_lr_factor
            sched = self.keras.optimizers.schedules.CosineDecay(
                ft_lr, decay_steps=max(1, steps * s.fine_tune_epochs), alpha=0.05)
            self._compile(sched)
            self.keeper.wait = 0
            print(f"fine-tuning the top {s.fine_tune_layers} base layers ({n_trainable} with weights; BatchNorm "
                  f"frozen), lr {ft_lr:g}", file=sys.stderr)
            n2 = self._stage(s.fine_tune_epochs, "stage 2: fine-tuning", ds_tr, ds_va, class_weight, steps)
        if self.keeper.best_weights is not None:
            self.model.set_weights(self.keeper.best_weights)
        self.history["stage1_epochs"] = n1
        best = self.keeper.best
        return FitResult(self.history, n1, n2, self.interrupted, float(best))
