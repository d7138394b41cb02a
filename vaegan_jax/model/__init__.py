"""The model and its algorithm: layers, the three networks, the losses, the
train step (Algorithm 1), optimizers and the train state."""
