"""Data providers: calibration samples, labelled evaluation sets, training sets."""
