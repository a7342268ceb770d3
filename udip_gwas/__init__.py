"""udip-gwas: unsupervised deep imaging phenotypes (UDIPs) from brain MRI and their GWAS.

Stages (each a subpackage and a CLI subcommand): :mod:`udip_gwas.imaging` trains the 3-D convolutional
autoencoder and extracts UDIPs, :mod:`udip_gwas.genetics` runs the GWAS and finds loci,
:mod:`udip_gwas.annotation` interprets dimensions (PerDI) and writes the locus report.

References
----------
Patel K. et al., "Unsupervised deep representation learning enables phenotype discovery for genetic
association studies of brain imaging", Communications Biology 7, 414 (2024).
"""

from __future__ import annotations

__version__ = "0.1.0"

from udip_gwas.config import load as load_config  # noqa: E402
from udip_gwas.exceptions import ConfigError, InputError, NoSubjectsLeftError, UdipGwasError  # noqa: E402

__all__ = ["__version__", "load_config", "ConfigError", "InputError", "NoSubjectsLeftError", "UdipGwasError"]
