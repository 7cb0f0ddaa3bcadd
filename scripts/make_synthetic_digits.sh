#!/usr/bin/env bash
# Writes synthetic spoken digits in FSDD's layout, for training keyword models on more voices
# than FSDD's five (models/README.md, "Synthetic voices"):
#   scripts/make_synthetic_digits.sh OUT [ESPEAK_VOICES] [FLITE_VOICES]
# OUT/{digit}_{voice}_0.wav: each synthetic voice says "zero" ... "nine" once, 8 kHz 16-bit mono
# like FSDD (resampled by sox, so nothing above 4 kHz), leading and trailing silence trimmed.
# Voices: ESPEAK_VOICES (default 160) espeak-ng voices `syne000`..., each one of eight English
# accents, one of its voice variants, a pitch (20-80) and a rate (130-200 words/min), chosen
# deterministically from the voice's number; and FLITE_VOICES (default 45) flite voices
# `synf00`..., each one of flite's five voices with a duration stretch (0.85-1.2) and, for its
# three clustergen voices, a pitch target (mean 85-200 Hz). The same packages write the same
# files: Debian 12's espeak-ng 1.51 and flite 2.2 (installed here when missing).
set -euo pipefail
out=${1:?usage: make_synthetic_digits.sh OUT [ESPEAK_VOICES] [FLITE_VOICES]}
n_espeak=${2:-160}
n_flite=${3:-45}

missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v flite >/dev/null || missing+=(flite)
command -v sox >/dev/null || missing+=(sox)
if [ ${#missing[@]} -gt 0 ]; then
    echo "synthetic digits: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p "$out"
digits=(zero one two three four five six seven eight nine)
accents=(en-us en-gb en-gb-scotland en-gb-x-gbclan en-gb-x-rp en-gb-x-gbcwmd en-029 en-us-nyc)
# espeak-ng's voice variants that sound like a speaker (not whisper, croak or the robots)
variants=(m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 klatt6 Adam Alex
    Alicia Andrea Andy Annie Auntie Belinda Benjamin Caleb David Ed Edward Gene Henrique Hugo
    Jacky John Lee Linda Max Michael Mike Paul Quincy Rob Robert Steph Storm Zac grandma grandpa
    norbert shelby travis victor)
flite_voices=(kal kal16 awb rms slt)

# 8 kHz like FSDD, without dither (-D) and repeatable (-R: the same bytes each run); trim
# silence quieter than -45 dBFS at both ends
finish() { # raw.wav final.wav
    sox -q -R -D -G "$1" -r 8000 -c 1 -b 16 "$2" silence 1 0.01 -45d reverse silence 1 0.01 -45d reverse
    rm -f "$1"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((k = 0; k < n_espeak; k++)); do
    name=$(printf 'syne%03d' "$k")
    accent=${accents[$((k % ${#accents[@]}))]}
    variant=${variants[$(((k * 7 + k / ${#accents[@]}) % ${#variants[@]}))]}
    pitch=$((20 + (k * 37) % 61))
    rate=$((130 + (k * 53) % 71))
    for d in "${!digits[@]}"; do
        espeak-ng -v "$accent+$variant" -p "$pitch" -s "$rate" -w "$tmp/raw.wav" "${digits[$d]}"
        finish "$tmp/raw.wav" "$out/${d}_${name}_0.wav"
    done
done
for ((k = 0; k < n_flite; k++)); do
    name=$(printf 'synf%02d' "$k")
    voice=${flite_voices[$((k % ${#flite_voices[@]}))]}
    stretch=$(awk -v k="$k" 'BEGIN { printf "%.2f", 0.85 + 0.35 * ((k * 3) % 8) / 7 }')
    args=(--setf "duration_stretch=$stretch")
    case $voice in
        awb | rms | slt) args+=(--setf "int_f0_target_mean=$((85 + (k * 29) % 116))") ;;
    esac
    for d in "${!digits[@]}"; do
        flite -voice "$voice" "${args[@]}" -t "${digits[$d]}" -o "$tmp/raw.wav"
        finish "$tmp/raw.wav" "$out/${d}_${name}_0.wav"
    done
done
echo "synthetic digits: $(ls "$out" | wc -l) clips of $((n_espeak + n_flite)) voices in $out"
