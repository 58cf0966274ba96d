"""Training-time augmentation (TensorFlow ops, run in the tf.data pipeline)."""

from __future__ import annotations

import numpy as np


def make_augment(tf, size: int, strength: float = 1.0):
    """Per-image camera-like augmentation on a uint8 RGB size x size image -> float32 in [0, 255]."""
    s = float(size)

    def affine(img):
        # scale jitter (loose/tight boxes), shift, small rotation, horizontal flip - one warp
        # mild scale and only a small vertical shift: a tighter crop or a shift must not cut the nose line
        # off (it is what separates a correctly worn mask from one below the nose)
        zoom = tf.exp(tf.random.uniform([], np.log(0.85), np.log(1.15)))  # >1 zooms in (tight box)
        ang = tf.random.uniform([], -12.0, 12.0) * np.pi / 180.0 * strength
        tx = tf.random.uniform([], -0.08, 0.08) * s * strength
        ty = tf.random.uniform([], -0.04, 0.04) * s * strength
        aspect = tf.exp(tf.random.uniform([], -0.1, 0.1))
        flip = tf.where(tf.random.uniform([]) < 0.5, -1.0, 1.0)
        c, si = tf.cos(ang), tf.sin(ang)
        sx = flip / (zoom * aspect)
        sy = aspect / zoom
        # output pixel (x, y) -> input pixel; centred coordinates
        a0, a1 = c * sx, -si * sy
        b0, b1 = si * sx, c * sy
        cx = cy = (s - 1) / 2
        a2 = cx - a0 * cx - a1 * cy + tx
        b2 = cy - b0 * cx - b1 * cy + ty
        t = tf.reshape(tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0]), [1, 8])
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=img[None], transforms=t, output_shape=[size, size], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT",
        )
        return out[0]

    def blur(img):
        sigma = tf.random.uniform([], 0.4, 1.6)
        r = tf.range(-3, 4, dtype=tf.float32)
        k = tf.exp(-(r**2) / (2 * sigma**2))
        k = k / tf.reduce_sum(k)
        kx = tf.tile(tf.reshape(k, [1, 7, 1, 1]), [1, 1, 3, 1])
        ky = tf.tile(tf.reshape(k, [7, 1, 1, 1]), [1, 1, 3, 1])
        x = tf.nn.depthwise_conv2d(img[None], kx, [1, 1, 1, 1], "SAME")
        x = tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "SAME")
        return x[0]

    def lowres(img):
        # far-away faces: 12..~45 px source resolution, upscaled like the runtime does
        small = tf.random.uniform([], 12, max(13, int(s * 0.36)), dtype=tf.int32)
        x = tf.image.resize(img, [small, small], method="area")
        method = tf.random.uniform([], 0, 2, dtype=tf.int32)
        return tf.cond(method == 0,
                       lambda: tf.image.resize(x, [size, size], method="bilinear"),
                       lambda: tf.image.resize(x, [size, size], method="bicubic"))

    def jpeg(img):
        q = tf.random.uniform([], 20, 90, dtype=tf.int32)
        u8 = tf.cast(tf.clip_by_value(img, 0, 255), tf.uint8)
        return tf.cast(tf.image.adjust_jpeg_quality(u8, q), tf.float32)

    def augment(img, label):
        x = tf.cast(img, tf.float32)
        x = affine(x)
        x = tf.cond(tf.random.uniform([]) < 0.3, lambda: lowres(x), lambda: x)
        x = tf.cond(tf.random.uniform([]) < 0.25, lambda: blur(x), lambda: x)
        # photometric: brightness / contrast / saturation / slight hue, occasional grayscale
        x = x * tf.random.uniform([], 0.65, 1.35) + tf.random.uniform([], -30.0, 30.0)
        mean = tf.reduce_mean(x)
        x = (x - mean) * tf.random.uniform([], 0.65, 1.4) + mean
        gray = tf.reduce_mean(x, axis=-1, keepdims=True)
        sat = tf.where(tf.random.uniform([]) < 0.07, 0.0, tf.random.uniform([], 0.6, 1.4))
        x = gray + (x - gray) * sat
        x = x * tf.random.uniform([1, 1, 3], 0.9, 1.1)  # white balance
        x = tf.clip_by_value(x, 0.0, 255.0)
        x = tf.cond(tf.random.uniform([]) < 0.1,
                    lambda: tf.clip_by_value(x + tf.random.normal(tf.shape(x), 0, tf.random.uniform([], 2, 8)), 0, 255),
                    lambda: x)
        x = tf.cond(tf.random.uniform([]) < 0.4, lambda: jpeg(x), lambda: x)
        x = tf.ensure_shape(x, [size, size, 3])
        return x, label

    return augment
