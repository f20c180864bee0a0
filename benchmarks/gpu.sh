#!/usr/bin/env bash
# One GPU run of the benchmark set, one JSON: ${OUT:-benchmarks/out}/gpu.json
#
#   PYTHONPATH=. bash benchmarks/gpu.sh                  # on the GPU machine, from the repo root
#   SMOKE=1 DEVICE=cpu bash benchmarks/gpu.sh            # the same steps, tiny shapes, on a CPU (1-2 min;
#                                                        # two parts at a time there: JOBS=1 for one)
# Env: OUT (default benchmarks/out), DEVICE (cuda), BUDGET (seconds, 480), PYTHON (python3),
# T_STEP / T_COMPILE / T_DET / T_QUANT / T_EXTRA (per-part limits). See benchmarks/README.md for the figures.
#
# Before (on a machine with the converted embedded:aligned): `python benchmarks/prepare_cache.py`
# copies SmolLM2's tokenizer and optimum-quanto's pure-Python package into benchmarks/.cache/;
# carry that folder (4 MiB) to the GPU machine (no network, no gguf, maybe no optimum-quanto); the
# copy of optimum-quanto on PYTHONPATH is the one used.
# Every model is a shipped shape with random weights built on the GPU (logitscope.testing.shaped_lm:
# final norm scaled to ~4 bits of next-token entropy), SmolLM2's tokenizer, bf16.
#
# Parts (each its own process under `timeout`; a part that fails or times out is listed in
# "failed" with its log's tail, the rest still run; the whole set stops starting parts after
# BUDGET seconds, default 480; "extras" run only while 45 s are left and are "skipped" otherwise).
# Estimates on one H100 (process start + CUDA init ~10 s, 1.7B build ~5 s, 8B build ~10 s):
#   step-1.7b   ~40 s  decode step wall vs profiled device time (Session.append, 1 token x 100 rows,
#                      256-token context); generate 100 x 128 vs HF generate(output_scores=True), and
#                      HF with cuDNN SDPA off: ratios are HF / ours (wall time)
#   step-8b     ~45 s  the same on llama-3.1-8b (HF with cuDNN on only)
#   compiled-1.7b ~100 s the captured decode step (static slots, torch.compile fullgraph, CUDA graphs):
#                      compile seconds, wall vs profiled device time per step (100 rows in 128 slots);
#                      generate --compile on 100 x 128 vs HF generate(output_scores=True), same process
#   det-1.7b    ~30 s  probe determinism's run_model, 100 games x 10 rounds, vs the naive per-game
#                      loop (answer_distribution from scratch each round) timed on 5 games, scaled:
#                      speedup = naive / ours; CUDA peak allocated/reserved during the 100 games
#   det-8b      ~40 s  the same on llama-3.1-8b, plus probe plan's estimate (weights + 100 x KV per
#                      game) over the measured allocated and reserved peaks
#   quant-8b    ~80 s  llama-3.1-8b bf16 vs fp8 vs int8 weights (quanto, bf16 activations; the
#                      dequantise-then-matmul path, its fp8 kernel being a JIT build): weight memory,
#                      batched forward, 100-row decode step, exact readout (ratios over bf16), KL in
#                      bits of exact answer and next-token distributions against bf16
#   extras: session-1.7b (session vs naive re-encoding, TFLOP/s vs a bf16 matmul), answers-1.7b
#           (exact readout vs sampling and the harness loop), reward-8b (32-layer Tulu-RM shape,
#           batched vs one by one), generate-1.7b (ours and HF each in their own process: memory)
# Sum of the estimates ~335 s + extras; limits: the budget (480 s) bounds the whole.
# gpu.json: {"card", "torch", ..., "figures": {the figures above, by name}, "results": [every
# JSON line], "failed": [...], "skipped": [...]}; each part's log is in $OUT/logs/.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
OUT=${OUT:-benchmarks/out}
PY=${PYTHON:-python3}
CACHE=$ROOT/benchmarks/.cache
TOK=$CACHE/smollm2-tokenizer
export PYTHONPATH="$ROOT:$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}:$CACHE/pylib"
export TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}   # as the CLI sets it
mkdir -p "$OUT/parts" "$OUT/logs"
rm -f "$OUT"/parts/*.jsonl "$OUT"/logs/*.log "$OUT/parts.tsv" "$OUT/gpu.json"
START=$(date +%s)

if [ ! -f "$TOK/tokenizer.json" ]; then
  echo "== prepare_cache (no $TOK)"
  $PY benchmarks/prepare_cache.py >"$OUT/logs/prepare.log" 2>&1 || echo "   failed: see $OUT/logs/prepare.log"
fi

if [ "$SMOKE" = 1 ]; then
  BUDGET=${BUDGET:-900}
  SMOL="--random-weights smollm2-1.7b --override num_hidden_layers=1,hidden_size=64,intermediate_size=128,num_attention_heads=2,num_key_value_heads=2"
  LLAMA="--random-weights llama-3.1-8b --override num_hidden_layers=1,hidden_size=64,intermediate_size=128,num_attention_heads=2,num_key_value_heads=1,head_dim=32,vocab_size=49280"
  RM="--layers 1 --override hidden_size=64,intermediate_size=128,num_attention_heads=2,num_key_value_heads=1,head_dim=32,vocab_size=49280"
  ROWS=3 CONTEXT=8 STEPS=1 NEW=3 GAMES=3 ROUNDS=2 NAIVE=1 QSTEPS=1 REPS=1 PROMPTS=2 SAMPLES=10 PAIRS=3 NPAIRS=1
  QSET="--settings bf16,fp8,int8"                  # the GPU's settings, on the CPU
  JOBS=${JOBS:-2}                                  # parts side by side (one thread each): a CPU check only
  export OMP_NUM_THREADS=1
  T_STEP=${T_STEP:-200} T_DET=${T_DET:-200} T_QUANT=${T_QUANT:-300} T_EXTRA=${T_EXTRA:-200} EXTRA_MIN=0
  T_COMPILE=${T_COMPILE:-300}
else
  BUDGET=${BUDGET:-480}
  SMOL="--random-weights smollm2-1.7b" LLAMA="--random-weights llama-3.1-8b" RM="--layers 32"
  ROWS=100 CONTEXT=256 STEPS=20 NEW=128 GAMES=100 ROUNDS=10 NAIVE=5 QSTEPS=10 REPS=3 PROMPTS=8 SAMPLES=500 PAIRS=64 NPAIRS=16
  QSET=""
  JOBS=1                                           # timings: one part at a time
  T_STEP=${T_STEP:-90} T_DET=${T_DET:-80} T_QUANT=${T_QUANT:-120} T_EXTRA=${T_EXTRA:-60} EXTRA_MIN=45
  T_COMPILE=${T_COMPILE:-150}
fi

# part NAME core|extra LIMIT SCRIPT ARGS...: run one benchmark under timeout, JSON lines to parts/NAME.jsonl
part() {
  local name=$1 kind=$2 limit=$3 script=$4; shift 4
  local left=$(( BUDGET - ($(date +%s) - START) ))
  if [ "$kind" = extra ] && [ "$left" -lt "$EXTRA_MIN" ]; then
    printf '%s\t%s\tskip\t0\t0\n' "$name" "$kind" >>"$OUT/parts.tsv"; echo "== $name skipped (${left}s left)"; return
  fi
  if [ "$left" -lt 15 ]; then
    printf '%s\t%s\tbudget\t0\t0\n' "$name" "$kind" >>"$OUT/parts.tsv"; echo "== $name not started (${left}s left)"; return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s)"
  local t0; t0=$(date +%s)
  timeout -k 10 "$limit" "$PY" "benchmarks/$script" "$@" --device "$DEVICE" --json-out "$OUT/parts/$name.jsonl" \
    >"$OUT/logs/$name.log" 2>&1
  local rc=$? dt=$(( $(date +%s) - t0 ))
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$rc" "$dt" "$limit" >>"$OUT/parts.tsv"
  echo "   rc $rc, ${dt}s"
}

# run NAME ...: a part, in the background while fewer than JOBS run (JOBS=1: in turn)
run() {
  if [ "$JOBS" -le 1 ]; then part "$@"; return; fi
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  part "$@" &
}

run step-1.7b core "$T_STEP" bench_step.py $SMOL --tokenizer "$TOK" --rows $ROWS --context $CONTEXT --steps $STEPS \
  --new $NEW --no-cudnn-baseline
run step-8b core "$T_STEP" bench_step.py $LLAMA --tokenizer "$TOK" --rows $ROWS --context $CONTEXT --steps $STEPS --new $NEW
run compiled-1.7b core "$T_COMPILE" bench_step.py $SMOL --tokenizer "$TOK" --rows $ROWS --context $CONTEXT \
  --steps $STEPS --new $NEW --compiled
run det-1.7b core "$T_DET" bench_determinism.py $SMOL --tokenizer "$TOK" --games $GAMES --rounds $ROUNDS --naive-games $NAIVE
run det-8b core "$T_DET" bench_determinism.py $LLAMA --tokenizer "$TOK" --games $GAMES --rounds $ROUNDS --naive-games $NAIVE
run quant-8b core "$T_QUANT" bench_quant.py $LLAMA --tokenizer "$TOK" --rows $ROWS --context $CONTEXT --steps $QSTEPS \
  --reps $REPS --prompts $PROMPTS $QSET
run session-1.7b extra "$T_EXTRA" bench_session.py $SMOL --tokenizer "$TOK" --games $GAMES --rounds $ROUNDS \
  --naive-games $NAIVE --moves uniform
run answers-1.7b extra "$T_EXTRA" bench_answers.py $SMOL --tokenizer "$TOK" --samples $SAMPLES
run reward-8b extra "$T_EXTRA" bench_reward.py $RM --pairs $PAIRS --naive-pairs $NPAIRS
run generate-1.7b extra "$T_EXTRA" bench_generate.py $SMOL --tokenizer "$TOK" --samples $ROWS --max-new-tokens $NEW
wait
$PY benchmarks/collect.py "$OUT" --device "$DEVICE" --smoke "$SMOKE" --budget "$BUDGET" --seconds $(( $(date +%s) - START ))
