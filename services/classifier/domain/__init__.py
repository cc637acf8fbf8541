"""Pure classification core of the classifier: ABC, XYZ, Syntetos–Boylan patterns, declarative rule
sets, the vectorised engine, reclassification stability, override lifecycle and migration matrices.

Imports only numpy, scipy and the standard library: no I/O, no clock, no settings, no contracts.
"""
