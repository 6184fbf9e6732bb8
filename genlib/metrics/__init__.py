"""Metrics for generative models.

- :mod:`genlib.metrics.distribution`  FID, KID, Inception Score, precision/recall on features
- :mod:`genlib.metrics.image`         PSNR and SSIM
- :mod:`genlib.metrics.conditional`   conditional accuracy, intra-class FID, within-class diversity
- :mod:`genlib.metrics.toy`           mode coverage on mixtures with known centres
- :mod:`genlib.metrics.latent`        active units of a VAE
- :mod:`genlib.metrics.features`      the committed MNIST classifier that provides the features
"""

from genlib.metrics.conditional import (ConditionalAccuracy, conditional_accuracy, intra_class_fid,
                                        within_class_diversity)
from genlib.metrics.distribution import fid, frechet_distance, inception_score, kid, precision_recall
from genlib.metrics.features import mnist_classifier
from genlib.metrics.image import psnr, ssim
from genlib.metrics.latent import active_units
from genlib.metrics.toy import ModeCoverage, mode_coverage

__all__ = [
    "frechet_distance", "fid", "kid", "inception_score", "precision_recall",
    "psnr", "ssim", "mode_coverage", "ModeCoverage", "active_units", "mnist_classifier",
    "conditional_accuracy", "ConditionalAccuracy", "intra_class_fid", "within_class_diversity",
]
