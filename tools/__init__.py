"""Tools beside the library: the FID Inception weight converter."""
