#!/usr/bin/env bash
# The paper's ablations on LeNet-300-100 / MNIST, end to end with the CLI (about 10 minutes on
# two CPU cores). Prints one line per mask: its test accuracy after training.
#   bash examples/paper_ablations.sh [SPARSITY] [EPOCHS]
set -euo pipefail
S=${1:-0.95}
E=${2:-5}
out=$(mktemp -d)
cd "$out"

maskkit init --model lenet300 --seed 0 > init.safetensors
for method in random magnitude snip grasp; do
    maskkit score --method "$method" init.safetensors | maskkit mask --sparsity "$S" > "$method.safetensors"
done
maskkit score --method synflow --sparsity "$S" init.safetensors | maskkit mask --sparsity "$S" > synflow.safetensors
maskkit shuffle --seed 1 snip.safetensors > snip-shuffled.safetensors
maskkit reinit --seed 1 snip.safetensors > snip-reinit.safetensors
maskkit score --method snip init.safetensors | maskkit mask --sparsity "$S" --invert > snip-inverted.safetensors

# Magnitude pruning after training, rewound to the initialisation (the lottery ticket).
maskkit train --epochs "$E" init.safetensors > dense.safetensors
maskkit score --method magnitude dense.safetensors | maskkit mask --sparsity "$S" \
    | maskkit rewind --to init.safetensors > ticket.safetensors
maskkit shuffle --seed 1 ticket.safetensors > ticket-shuffled.safetensors

for m in random magnitude snip grasp synflow snip-shuffled snip-reinit snip-inverted ticket ticket-shuffled; do
    acc=$(maskkit train --epochs "$E" "$m.safetensors" | maskkit eval --json \
        | python3 -c 'import json, sys; print(format(json.load(sys.stdin)["accuracy"], ".2%"))')
    printf '%-16s %s\n' "$m" "$acc"
done
maskkit diff snip.safetensors snip-shuffled.safetensors
echo "artifacts in $out" >&2
