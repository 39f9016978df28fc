"""vae: a Variational Autoencoder on minigrad (built in a later step)."""
