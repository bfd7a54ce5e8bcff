"""Shared plumbing below every other package: repository paths, atomic IO, validators, progress.

Nothing here imports another spdnas package except :mod:`spdnas.core.trainer` (``spdnas.spd``
optimisers); the torch-free parts (paths, io, validators, progress) can be imported from anywhere.
"""
