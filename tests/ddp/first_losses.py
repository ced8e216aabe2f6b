"""Run by tests/test_distributed.py, in one process or under torchrun: AuG-KD's three stages and the student-only loop on a tiny
configuration; rank 0 writes the first training losses of each stage (and a checksum of the trained student) to the JSON file argv[1]."""
import json, sys
from dataclasses import replace
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parents[1]))
from conftest import FirstLosses
from augkd.distributed import init_distributed, is_main, teardown_distributed, world_size

class GlobalFirstLosses(FirstLosses):
    "The first training losses over the global batch: the mean of the ranks' losses (their batches are equal halves)."
    def after_loss(self):
        if not self.training or len(self.losses) >= 3: return
        loss = self.loss_grad.detach().clone()
        if world_size() > 1: torch.distributed.all_reduce(loss); loss /= world_size()
        self.losses.append(loss.item())
from augkd.data import load_setting
from augkd.teacher import get_teacher
from augkd.stages import AugKD
from augkd.config import augkd_config
from augkd.finetune import student_domain_config
from augkd.models import build_model

dev = init_distributed('cpu')
data = load_setting('M→U', seed=0)
data = replace(data, student_train=data.student_train.subset(torch.arange(96)), student_eval=data.student_eval.subset(torch.arange(64)))
teacher = get_teacher('M→U', preset='quick', epochs=1, device='cpu')      # the test trains it before launching
cfg = augkd_config('quick', bs=32, iters=3, g_epochs=1, anchor_epochs=1, epochs=1, val_bank=1, gen_width=16, enc_width=16)
method = AugKD(cfg)
torch.manual_seed(0)
nets = method.networks(10)
out = {}
for stage in ('stage1', 'stage2', 'stage3'):
    torch.manual_seed(1)
    if stage == 'stage3':           # each rank's batch is [its real images; their mixes], so a global dropout mask's rows meet other images
        for m in nets['student'].modules():
            if isinstance(m, torch.nn.Dropout): m.p = 0.0
    cb = GlobalFirstLosses()
    getattr(method, stage)(data, teacher, nets, dev, cbs=[cb])
    out[stage] = cb.losses
    out[stage + '_anchor'] = sum(p.double().abs().sum().item() for p in nets['anchor'].parameters())
    out[stage + '_student'] = sum(p.double().abs().sum().item() for p in nets['student'].parameters())
out['student_checksum'] = sum(p.double().abs().sum().item() for p in nets['student'].parameters())
out['generator_checksum'] = sum(p.double().abs().sum().item() for p in nets['gen'].parameters())
torch.manual_seed(2)
student = build_model(cfg.student, 10)
cb = GlobalFirstLosses()
AugKD(student_domain_config(cfg)).stage3(data, teacher, {'student': student, 'gen': None, 'enc': None, 'anchor': None}, dev, anchor=False, f_override=1.0, kd=True, cbs=[cb])
out['raw_kd'] = cb.losses
if is_main(): Path(sys.argv[1]).write_text(json.dumps(out))
teardown_distributed()
