"""Train tiny AuG-KD (its three stages), no_kd, dfq+ and mosaickd+ runs in this process and print one JSON fingerprint of their checkpoints, losses and metrics.

`tests/test_determinism.py` runs it in separate processes (different `PYTHONHASHSEED`, different history of the global generators) and
compares the fingerprints. Usage: `python tests/determinism_probe.py RUN_DIR [--burn]` with `AUGKD_DATA` pointing at a cache that holds
the M→U domains and the one-epoch quick teacher."""
import json, sys
from pathlib import Path
import torch
from augkd.core import weights_digest
from augkd.data import load_setting
from augkd.teacher import get_teacher
from augkd.config import augkd_config
from augkd.methods import get_method
from augkd.dfkd import dfkd_config

TINY_AUGKD = dict(bs=64, gen_width=16, enc_width=16, g_epochs=2, iters=2, inner_steps=2, val_bank=1, anchor_epochs=1, epochs=1)
TINY_LOOPS = {'dfq+': dfkd_config('quick', epochs=1, kd_steps=4, bs=16, synth=(('bs', 16), ('width', 16))),
              'mosaickd+': dfkd_config('quick', epochs=1, kd_steps=4, bs=16, synth=(('bs', 16), ('width', 16), ('ndf', 8)))}

def fingerprint(run_dir:Path, results:dict) -> dict:
    "Every checkpoint's per-network weight digests and logs, and every result's metrics and losses."
    out = {}
    for f in sorted(run_dir.glob('*.pt')):
        ck = torch.load(f, map_location='cpu', weights_only=False)
        if f.name.startswith('student-'):                           # the selected student a run saves, not a stage checkpoint
            out[f.name] = {'student': weights_digest(ck['state_dict']), 'classes': ck['classes']}
            continue
        out[f.name] = {'nets': {k: weights_digest(sd) for k, sd in ck['nets'].items()},
                       'log': json.dumps({k: v for k, v in ck['log'].items() if k not in ('seconds', 'synth_seconds')}, sort_keys=True, default=str)}
    for name, res in results.items():
        out[name] = {'eval': res['eval'], 'test': res['test'], 'student': res['student_digest'],
                     'losses': json.dumps({k: v.get('history', v.get('epochs')) for k, v in res['logs'].items()}, sort_keys=True)}
    return out

if __name__ == '__main__':
    run_dir = Path(sys.argv[1])
    torch.use_deterministic_algorithms(True)     # any CPU kernel torch knows to be nondeterministic would now raise
    if '--burn' in sys.argv: torch.randn(12345); torch.rand(7)     # a different history of the global generator before the runs
    data = load_setting('M→U', seed=0)
    teacher = get_teacher(data, preset='quick', epochs=1, device='cpu')
    cfg = augkd_config('quick', **TINY_AUGKD)
    results = {}
    for name in ('augkd', 'no_kd', 'dfq+', 'mosaickd+'):
        method = get_method(name, cfg)
        if name in TINY_LOOPS: method.loop = TINY_LOOPS[name]
        results[name] = method.fit(data, teacher, run_dir, seed=1, device='cpu')
    print(json.dumps({'threads': torch.get_num_threads(), 'fingerprint': fingerprint(run_dir, results)}))
