"""The allocator's pure domain core: ATP, promising, quotas, allocation runs and backorder processing.

Everything here is numpy, scipy and stdlib only: no I/O, no clock, no settings. Dates are bucket
indices (or ``datetime.date`` values passed in by the caller); quantities are plain numbers.
"""
