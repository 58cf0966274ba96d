"""Adam with steps relative to each weight tensor's size.

The export's BatchNorms are folded into the convolutions, so weight scales differ by orders of magnitude (the
first convolution reads raw 0-255 pixels: its weights are ~1e-3, deeper ones ~1). Plain Adam moves every weight
by about the learning rate per step, which would rewrite the first layers while barely touching the rest. Here
each tensor's step is the learning rate x the RMS of its starting values (a floor for all-zero tensors), so
``lr`` = 1e-3 changes every layer by about 0.1 % of its size per step.

``ema`` > 0 also keeps an exponential moving average of the weights (``ema`` is the decay per step): with a few
hundred photos the weights after any one step are noisy, and their average over the last ~1 / (1 - ema) steps
usually scores better. ``averaged()`` swaps the average in (for the val score, checkpoints and the export).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import tensorflow as tf

SCALE_FLOOR = 1e-4


class RelativeAdam:
    def __init__(self, variables, schedule, beta1: float = 0.9, beta2: float = 0.999, clipnorm: float = 5.0,
                 ema: float = 0.0):
        self.variables = list(variables)
        self.schedule, self.beta1, self.beta2, self.clipnorm, self.ema = schedule, beta1, beta2, clipnorm, float(ema)
        self.average = [tf.Variable(v, trainable=False) for v in self.variables] if self.ema > 0 else []
        self.scales = [max(float(np.sqrt(np.mean(np.square(v.numpy())))), SCALE_FLOOR) for v in self.variables]
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)

    def learning_rate(self) -> float:
        return float(self.schedule(self.step))

    def apply(self, grads) -> None:
        """One update (call inside a tf.function)."""
        grads, _ = tf.clip_by_global_norm(grads, self.clipnorm)
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float32)
        lr = tf.cast(self.schedule(self.step - 1), tf.float32)
        c1, c2 = 1.0 - tf.pow(self.beta1, t), 1.0 - tf.pow(self.beta2, t)
        for var, g, m, v, scale in zip(self.variables, grads, self.m, self.v, self.scales):
            m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
            var.assign_sub(lr * scale * (m / c1) / (tf.sqrt(v / c2) + 1e-12))
        if self.ema > 0:
            # warm-up: early on the average must not drag the start weights along for ~1 / (1 - ema) steps
            decay = tf.minimum(self.ema, (1.0 + t) / (10.0 + t))
            for var, avg in zip(self.variables, self.average):
                avg.assign(decay * avg + (1.0 - decay) * var)

    @contextmanager
    def averaged(self):
        """The averaged weights in the model for the duration (no-op without ``ema``)."""
        if not self.average:
            yield
            return
        current = [v.numpy() for v in self.variables]
        for var, avg in zip(self.variables, self.average):
            var.assign(avg)
        try:
            yield
        finally:
            for var, value in zip(self.variables, current):
                var.assign(value)
