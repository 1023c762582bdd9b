"""Makers of real test media (signed C2PA files, watermarked and generator-tagged images).

Used by the test suite, the example-media script and the benchmarks, so that every
one of them exercises the real detectors on media whose ground truth is known
by construction. Nothing here is imported by a scan.
"""
