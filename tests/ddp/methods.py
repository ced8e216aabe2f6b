"""Run by tests/test_distributed.py under torchrun: one tiny run of every method family (AuG-KD and an ablation, w/o KD, the
data-free baselines with and without the '+' fine-tune, MosaicKD, ODSD) into the run folder argv[1]. Each rank logs the files it
wrote through `atomic_write` to writes-rank<r>.json, and rank 0 the result records to results.json."""
import json, sys
from dataclasses import replace
from pathlib import Path
import torch
import augkd.runs, augkd.core, augkd.distributed
from augkd.distributed import init_distributed, is_main, rank, teardown_distributed, world_size
from augkd.data import load_setting
from augkd.teacher import get_teacher
from augkd.config import augkd_config
from augkd.methods import get_method
from augkd.dfkd import dfkd_config

out = Path(sys.argv[1])
writes = []
def logged_write(path, *a, **kw):
    writes.append(Path(path).name)
    return augkd.core.atomic_write(path, *a, **kw)
augkd.runs.atomic_write = logged_write                          # where checkpoints and results are written
wrapped = []
fit_ddp = augkd.distributed.DDPTrainer.before_fit
def counted(self): fit_ddp(self); wrapped.append(type(self.learn.model).__name__)
augkd.distributed.DDPTrainer.before_fit = counted                  # every fit of every method must run under DDP

dev = init_distributed('cpu')
data = load_setting('M→U', seed=0)
data = replace(data, student_train=data.student_train.subset(torch.arange(64)), student_eval=data.student_eval.subset(torch.arange(32)))
teacher = get_teacher('M→U', preset='quick', epochs=1, device='cpu')
cfg = augkd_config('quick', bs=16, iters=2, g_epochs=1, anchor_epochs=1, epochs=1, val_bank=1, gen_width=16, enc_width=16)
synth = {'deepinv': (('iters', 2),), 'cmi': (('g_steps', 2), ('width', 16)), 'mosaickd': (('width', 16), ('ndf', 8)),
         'odsd_provisional': (('kd_per_round', 2), ('rescore_every', 1))}
results = {}
for name in ('augkd', 'no_anchor', 'no_kd', 'raw_kd', 'dfq+', 'zskt', 'dafl', 'dfad', 'deepinv+', 'cmi', 'pre_dfkd', 'mosaickd+', 'odsd_provisional'):
    method = get_method(name, cfg)
    base = name.rstrip('+')
    if hasattr(method, 'loop'):
        method.loop = dfkd_config('quick', epochs=1, kd_steps=2, bs=8, synth=synth.get(base, (('width', 16),)) + ((('bs', 8),) if base != 'odsd_provisional' else ()))
    res = method.fit(data, teacher, out, seed=0, device=dev)
    results[name] = {'test': res['test']['acc1'], 'synth_images': res.get('synth_images', 0)}
(out/f'writes-rank{rank()}.json').write_text(json.dumps(writes))
if is_main(): (out/'results.json').write_text(json.dumps({'world': world_size(), 'results': results, 'wrapped': wrapped}))
teardown_distributed()
