"""Section 0.5: generative models (autoencoder, VAE, GAN)."""
