"""Fine-tuning the shipped RetinaFace-MobileNet0.25 face detector (``train_detector.py``).

onnx_keras: the ONNX graph rebuilt as a Keras model with the file's weights; anchors: priors, matching and
box encoding; tiles: VOC scenes -> augmented square training tiles; loss: the multibox loss; valscore: the
validation precision-recall curves; export: Keras -> ONNX with the app's names; train: the run itself.
TensorFlow is imported by onnx_keras, loss, export and train only.
"""
