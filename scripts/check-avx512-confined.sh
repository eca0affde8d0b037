#!/usr/bin/env bash
# Proves that no AVX-512 instruction can run on an AVX2-only CPU: in the linked binary, every function holding an
# AVX-512 instruction (EVEX-encoded: first opcode byte 0x62 in 64-bit code; or one on a mask register %k0-%k7, which
# kmov/kand/… reach in VEX encoding) must belong to the two modules compiled for x86-64-v4 (TileTransformsAVX512,
# GemmAVX512), which run only where the CPU has AVX-512.
# A shared copy of generic code compiled there, or -march leaking into another target, would show up here.
# Usage: scripts/check-avx512-confined.sh [BINARY] (default: the debug build's vae-dist).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname -m)" = x86_64 ] || { echo "check-avx512-confined: skipped (not x86-64)"; exit 0; }
command -v objdump >/dev/null || { echo "check-avx512-confined: skipped (no objdump; apt-get install binutils)"; exit 0; }
bin="${1:-$(swift build --show-bin-path)/vae-dist}"
[ -f "$bin" ] || { echo "check-avx512-confined: $bin is missing" >&2; exit 1; }
# The check proper, as a function so that it can first be shown to fail.
confined() {
    objdump -d "$1" | awk -v bin="$1" '
        /^[0-9a-f]+ <.*>:$/ { fn = substr($2, 2, length($2) - 3); next }
        # An instruction line: address, tab, raw bytes, tab, mnemonic (a long instruction continues its bytes on lines
        # without a mnemonic: not instruction starts). Skip address-size and segment prefixes.
        /^ *[0-9a-f]+:\t/ {
            if (split($0, part, "\t") < 3) next
            n = split(part[2], byte, " ")
            i = 1; while (i <= n && byte[i] ~ /^(67|2e|3e|26|64|65)$/) i++
            if (byte[i] == "62" || part[3] ~ /%k[0-7]/) avx512[fn]++
        }
        END {
            allowed = 0; bad = 0
            for (f in avx512) {
                if (f ~ /^\$s20TileTransformsAVX512/ || f ~ /^\$s10GemmAVX512/) { allowed++; continue }
                print "check-avx512-confined: " f " holds " avx512[f] " AVX-512 instructions outside the AVX-512 modules" > "/dev/stderr"
                bad++
            }
            if (allowed == 0) { print "check-avx512-confined: no AVX-512 code found at all in " bin " (did the x86-64-v4 modules build?)" > "/dev/stderr"; exit 1 }
            if (bad > 0) exit 1
            print "check-avx512-confined: AVX-512 instructions only in the " allowed " entry points of TileTransformsAVX512 and GemmAVX512"
        }'
}

# First the detector itself, on an object assembled here (binutils' `as` comes with objdump): it must name both
# kinds of AVX-512 instruction and pass over AVX2 code.
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf '%s\n' .text 'evex_probe: vaddps %zmm0, %zmm1, %zmm2' ret 'mask_probe: kmovw %k1, %eax' ret \
    'avx2_probe: vaddps %ymm0, %ymm1, %ymm2' 'vfmadd231ps %ymm0, %ymm1, %ymm2' ret | as -o "$probe/probe.o" -
found="$(confined "$probe/probe.o" 2>&1 || true)"
if [[ "$found" != *"evex_probe holds 1 "* || "$found" != *"mask_probe holds 1 "* || "$found" == *avx2_probe* ]]; then
    echo "check-avx512-confined: the detector is wrong on a probe object (fix this script):" >&2
    echo "$found" >&2
    exit 1
fi
confined "$bin"
