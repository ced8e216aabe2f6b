"""AuG-KD images/s per stage against the bare forward + backward cost of the same networks on the same batch.

    python bench/augkd_stages.py [--preset quick|paper] [--device cpu|cuda] [--bs N] [--iters N]

A stage's rate is measured by running the library's own stage (a fastai Learner with the stage callback)
for a few epochs on synthetic data, timing the training phases only. Its floor runs the same networks
on the same batch with nothing else: no hooks, losses, optimisers, schedules or callbacks.
"""
import argparse, platform, time
from dataclasses import replace
import torch, torch.nn.functional as F
from fastai.callback.core import Callback
from augkd.core import default_device
from augkd.domains import Domain
from augkd.data import Setting, SettingData
from augkd.models import build_model, freeze, model_pair
from augkd.teacher import Teacher, teacher_recipe
from augkd.augkd import AugKD, augkd_config, one_hot


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


class Clock(Callback):
    "Wall time of the training phases (validation excluded) and the number of batches."
    order = 99
    def before_fit(self): self.seconds, self.batches = 0.0, 0
    def before_train(self): sync(self.dls.train.device); self.t0 = time.perf_counter()
    def after_batch(self):
        if self.training: self.batches += 1
    def after_train(self): sync(self.dls.train.device); self.seconds += time.perf_counter() - self.t0


def timed(fn, device, reps):
    for _ in range(2): fn()
    sync(device); t = time.perf_counter()
    for _ in range(reps): fn()
    sync(device)
    return (time.perf_counter() - t) / reps


def synthetic_data(n_train, n_eval, classes=10):
    dom = lambda n: Domain('synthetic', torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8), torch.arange(n) % classes, [str(i) for i in range(classes)])
    tr, ev = dom(n_train), dom(n_eval)
    return SettingData(Setting('synthetic', ('A',), 'B'), 0, tr.classes, tr, ev, tr, ev, ev, [], '')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='quick', choices=['quick', 'paper'])
    p.add_argument('--device', default=None)
    p.add_argument('--bs', type=int, default=None, help='batch size (default: the preset\'s)')
    p.add_argument('--iters', type=int, default=4, help='generator steps per stage-1 epoch while timing')
    a = p.parse_args()
    device = torch.device(a.device) if a.device else default_device()
    cfg = augkd_config(a.preset, **({'bs': a.bs} if a.bs else {}))
    cfg = replace(cfg, g_epochs=2, iters=a.iters, a_epochs=2, epochs=2, val_bank=1)
    B, d, C = cfg.bs, cfg.latent_size, 10
    t_arch = model_pair(a.preset)[0]
    tmodel = freeze(build_model(t_arch, C).to(device))
    teacher = Teacher(tmodel, 'bench', None, '', teacher_recipe(a.preset), {}, False)
    data = synthetic_data(4 * B, B)
    method = AugKD(cfg)
    nets = {k: v.to(device) for k, v in method.networks(C).items()}
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"AuG-KD stage throughput, preset {a.preset} ({t_arch} → {cfg.student}, batch {B}), on {name}, torch {torch.__version__}\n")

    rows = []
    # stage 1: each batch of the Learner is one inner step; every inner_steps-th batch also runs a generator step
    clock = Clock(); method.stage1(data, teacher, nets, device, cbs=[clock])
    imgs1 = clock.batches * B + (clock.batches // cfg.inner_steps) * B
    g, e, s = nets['gen'], nets['enc'], nets['student']
    def floor1_gen():
        x = g(torch.randn(B, d, device=device)); (tmodel(x).sum() + s(x).sum()).backward()
    def floor1_inner():
        with torch.no_grad(): x = g(torch.randn(B, d, device=device)); t = tmodel(x)
        s(x).sum().backward(); e(x, one_hot(t.argmax(1), C))[0].sum().backward()
    f1 = (timed(floor1_gen, device, 3) + cfg.inner_steps * timed(floor1_inner, device, 3)) / (cfg.inner_steps + 1)
    rows.append(('1 data-free (G + S + E steps)', imgs1 / clock.seconds, B / f1))
    # stage 2
    clock = Clock(); method.stage2(data, teacher, nets, device, cbs=[clock])
    an = nets['anchor']
    x = torch.rand(B, 3, 32, 32, device=device); y = torch.arange(B, device=device) % C
    def floor2():
        z = e(x, one_hot(y, C))[0]; tmodel(g(an(z, one_hot(y, C))[0])).sum().backward()
    rows.append(('2 anchor (A step through E, G, T)', clock.batches * B / clock.seconds, B / timed(floor2, device, 3)))
    # stage 3
    clock = Clock(); method.stage3(data, teacher, nets, device, cbs=[clock])
    def floor3():
        with torch.no_grad():
            z = e(x, one_hot(y, C))[0]; xm = g(an(z, one_hot(y, C))[0]); X = torch.cat([x, xm]); tmodel(X)
        s(X).sum().backward()
    rows.append(('3 mixup (S on real + mixed, T target)', clock.batches * B / clock.seconds, B / timed(floor3, device, 3)))

    print("| stage | stage (img/s) | floor: bare fwd+bwd (img/s) | stage cost / floor |")
    print("|---|---|---|---|")
    for n, rate, floor in rows: print(f"| {n} | {rate:,.0f} | {floor:,.0f} | {floor / rate:.2f}× |")
    if device.type == 'cuda': print(f"\npeak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == '__main__':
    main()
