"""The multicast routing API as data: struct layouts, constants and the option table.

A leaf package: the model (reference_impl), the suite (conformance) and the fixtures read the
API's numbers and layouts from here, and this package imports nothing of theirs.
"""
