"""Models: one file per family."""

from genlib.models.autoencoder import Autoencoder
from genlib.models.gan import MLPDiscriminator, MLPGenerator
from genlib.models.vae import VAE, VAEOutput

__all__ = ["VAE", "VAEOutput", "Autoencoder", "MLPGenerator", "MLPDiscriminator", "HMM"]


def __getattr__(name):  # HMM lives in its own module; import it on first use
    if name == "HMM":
        from genlib.models.hmm import HMM
        return HMM
    raise AttributeError(f"module 'genlib.models' has no attribute {name!r}")
