"""Models: one file per family."""

from genlib.models.autoencoder import Autoencoder
from genlib.models.conditional import CONDITIONING_MODES, ConditionalMLPDiscriminator, ConditionalMLPGenerator
from genlib.models.batched import BatchedGenerator, BatchedMLP, draw_per_seed, seeded_generators
from genlib.models.gan import MLPDiscriminator, MLPGenerator
from genlib.models.hmm import HMM
from genlib.models.image2image import ImageToImageNet, PatchDiscriminator
from genlib.models.linear_gaussian import LinearGaussian
from genlib.models.vae import VAE, VAEOutput

__all__ = ["VAE", "VAEOutput", "Autoencoder", "MLPGenerator", "MLPDiscriminator", "HMM", "LinearGaussian",
           "BatchedMLP", "BatchedGenerator", "draw_per_seed", "seeded_generators",
           "ConditionalMLPGenerator", "ConditionalMLPDiscriminator", "CONDITIONING_MODES",
           "ImageToImageNet", "PatchDiscriminator"]
