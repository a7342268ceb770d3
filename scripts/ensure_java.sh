#!/usr/bin/env bash
# Hail needs a Java runtime (11 or 17). Install a headless JRE with apt when none is found.
set -euo pipefail
if command -v java >/dev/null 2>&1 && java -version >/dev/null 2>&1; then
  exit 0
fi
echo "udip-gwas: no Java runtime found; Hail needs Java 11 or 17." >&2
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq openjdk-17-jre-headless
else
  echo "Install a Java 11 or 17 runtime (e.g. 'conda install -c conda-forge openjdk=17') and retry." >&2
  exit 1
fi
