"""What a run shows: pictures, charts, metric writers, sample files."""
