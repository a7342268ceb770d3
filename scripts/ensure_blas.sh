#!/usr/bin/env bash
# The association's blocked engine multiplies matrices in Hail's native BLAS (loaded from libblas.so.3).
# Install OpenBLAS with apt when no libblas.so.3 is found; without one the gwas stage falls back to Hail's
# linear_regression_rows (same results, slower), so a failed install only warns.
set -uo pipefail
if { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libblas\.so\.3'; then
  exit 0
fi
echo "udip-gwas: no libblas.so.3 found; installing OpenBLAS for Hail's native matrix products." >&2
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libopenblas0; then
    exit 0
  fi
fi
echo "udip-gwas: could not install OpenBLAS (Debian/Ubuntu: libopenblas0; conda: openblas); the gwas stage" \
     "will use Hail's linear_regression_rows instead." >&2
exit 0
