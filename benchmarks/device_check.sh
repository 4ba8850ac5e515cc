#!/usr/bin/env bash
# The GPU checks of skphys as one prepared run, for a session that is lent a GPU.
#
#   bash benchmarks/device_check.sh
#
# skphys runs from the working tree (PYTHONPATH) on the PyTorch already installed there. Each
# stage has its own time limit, so an overrun costs that stage alone; the whole run stays
# under about 8 minutes. Logs go to $OUT (the folder the device tool returns) or to
# /tmp/device_check. Settings, from the environment:
#   DEVICE    torch device (cuda); DEVICE=cpu with small settings rehearses the script anywhere
#   STEPS32   training steps of the L = 32 Ising dual flow (1500, as the CPU figure)
#   MODEL16   a trained L = 16 flow (python benchmarks/rg_flow.py --parts ising16 --model PATH);
#             without it stage 4 is skipped
#   CHAINS    HMC chains of stage 4, one batch (1024)
#   BULK      bulk HMC trajectories per chain after burn-in (200)
#   BOUNDARY  boundary HMC trajectories per chain at unit length, divided by the length (3200)
#
# Stages:
#   1. versions and the device;
#   2. the device tests, `pytest --device $DEVICE`: tests/test_devices.py (every estimator
#      fitted on the device, its pickle free of device tensors, its saved model reproduced on
#      the CPU) and the other tests taking the device fixture;
#   3. `rg_flow.py --parts ising32` on the device: KL (issue 5: <= 8 nats on a GPU), ESS/N,
#      MH acceptance, ln Z, and the training's wall time;
#   4. `rg_flow.py --parts ising16` samplers on the device from MODEL16: boundary HMC
#      (T = 16) against bulk HMC (T = 1) and the flow's MH chain, tau_int(|m|) times the cost
#      in evaluations and in GPU wall time (issue 5: the bulk must win per unit cost).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
DEVICE="${DEVICE:-cuda}"
LOGS="${OUT:-/tmp/device_check}"
mkdir -p "$LOGS"
PYTHON="${PYTHON:-python3}"
status=0

# stage NAME SECONDS COMMAND...: run COMMAND under a time limit, log it, keep the worst status.
stage() {
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit $limit s)"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc after $((SECONDS - start)) s"
    ((rc == 0)) || status=$rc
}

stage versions 60 "$PYTHON" -c "
import importlib.metadata, sklearn, torch
print('skphys', importlib.metadata.version('skphys'), 'torch', torch.__version__, 'scikit-learn',
      sklearn.__version__)
print('device:', torch.cuda.get_device_name() if '$DEVICE'.startswith('cuda') else '$DEVICE')
"
stage device-tests 120 "$PYTHON" -m pytest -q -p no:cacheprovider --device "$DEVICE" \
    tests/test_devices.py tests/test_base.py::test_fit_recovers_gaussian \
    tests/test_mcmc.py::test_samplers_run_on_device
stage ising32 180 "$PYTHON" benchmarks/rg_flow.py --parts ising32 --device "$DEVICE" \
    --steps32 "${STEPS32:-1500}"
if [[ -n "${MODEL16:-}" ]]; then
    stage ising16-samplers 150 "$PYTHON" benchmarks/rg_flow.py --parts ising16 \
        --device "$DEVICE" --model "$MODEL16" --chains "${CHAINS:-1024}" \
        --trajectories "${BULK:-200}" --boundary-trajectories "${BOUNDARY:-3200}" \
        --boundary-lengths 16 --bulk-lengths 1
else
    echo "=== ising16-samplers: skipped (no MODEL16)"
fi
exit $status
