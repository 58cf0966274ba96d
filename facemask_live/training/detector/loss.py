"""The multibox loss: smooth-L1 on the positive anchors' boxes + softmax cross-entropy on the positives and
the hardest negatives (``neg_ratio`` per positive in each tile), both divided by the batch's positives.

An optional landmark term keeps the landmark output (which the app's quality gate reads) where the base
model had it: smooth-L1 between the model's and the frozen base model's landmarks on the positive anchors.

An optional distillation term keeps the face scores near the base model's everywhere else: KL divergence from
the base model's face/background softmax to the model's on the anchors that are not positives, so that learning
the crowd photos' masked faces does not cost faces the base model already found (measured: docs/accuracy.md).
"""

from __future__ import annotations

import tensorflow as tf

MIN_NEGATIVES = 16  # a tile without faces still teaches a few hard negatives


def smooth_l1(x):
    ax = tf.abs(x)
    return tf.where(ax < 1.0, 0.5 * ax * ax, ax - 0.5)


def hard_negatives(ce, negative, positives, neg_ratio: float):
    """Mask of the ``neg_ratio`` x positives (at least MIN_NEGATIVES) highest-loss negatives of each tile."""
    neg_ce = tf.where(negative, ce, -1.0)
    k = tf.cast(tf.maximum(neg_ratio * tf.cast(positives, tf.float32), MIN_NEGATIVES), tf.int32)
    k = tf.minimum(k, tf.reduce_sum(tf.cast(negative, tf.int32), axis=1))
    ranked = tf.sort(neg_ce, axis=1, direction="DESCENDING")
    cut = tf.gather(ranked, tf.maximum(k - 1, 0), axis=1, batch_dims=1)
    cut = tf.where(k > 0, cut, tf.float32.max)
    return negative & (neg_ce >= cut[:, None])


def multibox_loss(labels, targets, loc, logits, neg_ratio: float = 3.0):
    """(box loss, class loss, positives) of a batch; labels (B, N) 1/0/-1, targets (B, N, 4)."""
    labels = tf.cast(labels, tf.int32)
    positive, negative = labels == 1, labels == 0
    n_pos = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
    total = tf.maximum(tf.cast(tf.reduce_sum(n_pos), tf.float32), 1.0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=logits)
    chosen = positive | hard_negatives(tf.stop_gradient(ce), negative, n_pos, neg_ratio)
    class_loss = tf.reduce_sum(tf.where(chosen, ce, 0.0)) / total
    box = tf.reduce_sum(smooth_l1(loc - targets), axis=2)
    box_loss = tf.reduce_sum(tf.where(positive, box, 0.0)) / total
    return box_loss, class_loss, total


def landmark_loss(labels, landmarks, teacher_landmarks):
    """Smooth-L1 between the model's and the base model's landmark outputs on the positive anchors."""
    positive = tf.cast(labels, tf.int32) == 1
    total = tf.maximum(tf.reduce_sum(tf.cast(positive, tf.float32)), 1.0)
    d = tf.reduce_sum(smooth_l1(landmarks - teacher_landmarks), axis=2)
    return tf.reduce_sum(tf.where(positive, d, 0.0)) / total


def distill_loss(labels, logits, teacher_logits):
    """KL(base || model) of the face/background softmax on the anchors that are not positives, summed and
    divided by the batch's positives (the other terms' scale); easy background where both agree adds ~0."""
    rest = tf.cast(labels, tf.int32) != 1
    total = tf.maximum(tf.reduce_sum(tf.cast(~rest, tf.float32)), 1.0)
    p_t = tf.nn.softmax(teacher_logits, axis=-1)
    kl = tf.reduce_sum(p_t * (tf.nn.log_softmax(teacher_logits, axis=-1) - tf.nn.log_softmax(logits, axis=-1)), axis=-1)
    return tf.reduce_sum(tf.where(rest, kl, 0.0)) / total
