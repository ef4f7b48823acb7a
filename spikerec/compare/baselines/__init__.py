"""Comparison baselines besides the CNN heads: SVMs, sequence models and data augmentation.

- :mod:`spikerec.compare.baselines.svm`: SVMs on pixels in [0, 1] (or V4 features) with
  gamma and C chosen by stratified cross-validation;
- :mod:`spikerec.compare.baselines.fit`: a small Adam trainer with early stopping for any
  classifier that maps images to logits;
- :mod:`spikerec.compare.baselines.rnn`: ``RowRNN`` (a GRU or LSTM reading an image row by
  row) and ``ConvRNN`` (the V4 front end's feature map read column by column);
- :mod:`spikerec.compare.baselines.gan`: a class-conditional DCGAN, its trainer and a
  quality measure;
- :mod:`spikerec.compare.baselines.augment`: ``none``, ``classic`` (small random shifts and
  rotations) and ``gan`` augmentation of a training split.
"""

from spikerec.compare.baselines.augment import AUGMENTATIONS, AugmentRecord, augment_training
from spikerec.compare.baselines.fit import FitConfig, FitResult, evaluate_classifier, fit_classifier
from spikerec.compare.baselines.gan import GANConfig, train_gan
from spikerec.compare.baselines.rnn import SEQUENCE_MODELS, ConvRNN, RowRNN, build_sequence_model

__all__ = [
    "AUGMENTATIONS",
    "SEQUENCE_MODELS",
    "AugmentRecord",
    "ConvRNN",
    "FitConfig",
    "FitResult",
    "GANConfig",
    "RowRNN",
    "augment_training",
    "build_sequence_model",
    "evaluate_classifier",
    "fit_classifier",
    "train_gan",
]
