#!/usr/bin/env bash
# Runs every test: unit tests, reference-fixture tests and the multi-rank tests (through mpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
# Open MPI refuses to run as root without these; CI and containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# PyTorch loads what `vae-dist export` writes: checked where a Python has torch and diffusers (PYTHON, default
# python3), otherwise skipped with a notice.
bash scripts/check-pytorch-interop.sh
# The original PyTorch tool's users load vae-dist's .pt checkpoints with their own resume snippet: checked with
# torch where it is at hand (same PYTHON), otherwise skipped with a notice.
bash scripts/check-seed-checkpoints.sh
# TensorBoard's own reader lists the scalars and grids of vae-dist's event files, across a resume: checked where
# Python has the tensorboard package (same PYTHON), otherwise skipped with a notice.
bash scripts/check-tensorboard.sh
# The library's layers (README, "Code map"): an import of a target not declared as a dependency fails the build.
swift build --build-tests --explicit-target-dependency-import-check error
# One binary serves AVX2 and AVX-512 CPUs: AVX-512 code may only be in the modules that run where the CPU has it.
bash scripts/check-avx512-confined.sh
# Several hosts as network namespaces (needs root; says "skipped" elsewhere), and report.html in headless Chromium
# at 1400 px (says "skipped" without it). With a --filter, only the chosen tests run.
if [ $# -eq 0 ]; then
    VAE_DIST="$(swift build --show-bin-path)/vae-dist" bash scripts/test-multihost.sh
    VAE_DIST="$(swift build --show-bin-path)/vae-dist" bash scripts/check-report-browser.sh
fi
# Every test is XCTest; without this flag swift-testing would close the log with "0 tests".
swift test --skip-build --disable-swift-testing "$@"
# The accuracy contract on both kernel paths (Tests/Fixtures/README.md): where the CPU has AVX-512 the run above
# used it, so the fixture tests — the default arithmetic's contract and its measurement among them — and the
# training quality test run again on the AVX2 kernels.
if [ $# -eq 0 ] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    VAE_DIST_KERNELS=avx2 swift test --skip-build --disable-swift-testing --filter 'ReferenceModelTests|TrainingQualityTests'
fi
