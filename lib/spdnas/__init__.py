"""spdnas: SPD manifold networks, SPDNetNAS search and network design-space analysis."""

__version__ = "0.1.0"
