"""vaegan_jax: the VAE-GAN of Larsen et al. (2016) in JAX and Flax."""

__version__ = '0.1.0'
