"""Storing a run: its workdir, checkpoints and their integrity, restoring,
warm starts and exports."""
