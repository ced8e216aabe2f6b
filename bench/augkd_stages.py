"""AuG-KD images/s per stage against the bare forward + backward cost of the same networks on the same batch.

    python bench/augkd_stages.py [--preset quick|paper] [--device cpu|cuda] [--bs N] [--iters N]
                                 [--amp auto|bf16|off] [--channels-last auto|on|off] [--compile off|default|reduce-overhead]
                                 [--compare-reference] [--train-images N]

A stage's rate is measured by running the library's own stage (a fastai Learner with the stage callback)
for a few epochs on synthetic data, timing the training phases only. Its floor runs the same networks
on the same batch, on the same fast path (precision, layout), with nothing else: no hooks, losses,
optimisers, schedules or callbacks. `--compare-reference` also runs every stage as the reference code
does (the `reference` preset's switches: fp32, contiguous layout, autograd anomaly detection in every
stage) and estimates the whole run of the preset's budget both ways.
"""
import argparse, platform, time
from dataclasses import replace
import torch, torch.nn.functional as F
from fastai.callback.core import Callback
from augkd.core import default_device
from augkd.domains import Domain
from augkd.data import Setting, SettingData
from augkd.models import AMP_MODES, CHANNELS_LAST_MODES, COMPILE_MODES, FastPath, build_model, freeze, model_pair
from augkd.teacher import Teacher, teacher_recipe
from augkd.stages import AugKD
from augkd.config import REFERENCE_SWITCHES, augkd_config
from augkd.training import one_hot
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


def measure(cfg, device, tmodel, teacher, data, C=10):
    "Per stage: (name, images/s, floor images/s, peak GPU GiB or None), for one configuration."
    B, d = cfg.bs, cfg.latent_size
    method = AugKD(cfg)
    nets = {k: v.to(device) for k, v in method.networks(C).items()}
    g, e, s, an = nets['gen'], nets['enc'], nets['student'], nets['anchor']
    x = torch.rand(B, 3, 32, 32, device=device); y = torch.arange(B, device=device) % C
    def floor1_gen():
        x = g(torch.randn(B, d, device=device)); (tmodel(x).sum() + s(x).sum()).backward()
    def floor1_inner():
        with torch.no_grad(): x = g(torch.randn(B, d, device=device)); t = tmodel(x)
        s(x).sum().backward(); e(x, one_hot(t.argmax(1), C))[0].sum().backward()
    def floor2():
        z = e(x, one_hot(y, C))[0]; tmodel(g(an(z, one_hot(y, C))[0])).sum().backward()
    def floor3():
        with torch.no_grad():
            z = e(x, one_hot(y, C))[0]; xm = g(an(z, one_hot(y, C))[0]); X = torch.cat([x, xm]); tmodel(X)
        s(X).sum().backward()
    def on_fast_path(fn):
        with FastPath(device, cfg.amp, cfg.channels_last, cfg.compile) as fast:
            fast.add(tmodel, g, e, s, an)
            return timed(fn, device, 3)
    def run_stage(stage, **kw):
        "Run a stage with a clock; return the clock and the stage's peak GPU memory in GiB (None on other devices)."
        if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
        clock = Clock(); getattr(method, stage)(data, teacher, nets, device, cbs=[clock], **kw)
        return clock, torch.cuda.max_memory_allocated(device) / 2**30 if device.type == 'cuda' else None
    rows = []
    # stage 1: each batch of the Learner is one inner step; every inner_steps-th batch also runs a generator step
    clock, gib = run_stage('stage1')
    imgs1 = clock.batches * B + (clock.batches // cfg.inner_steps) * B
    f1 = (on_fast_path(floor1_gen) + cfg.inner_steps * on_fast_path(floor1_inner)) / (cfg.inner_steps + 1)
    rows.append(('1 data-free (G + S + E steps)', imgs1 / clock.seconds, B / f1, gib))
    clock, gib = run_stage('stage2')
    rows.append(('2 anchor (A step through E, G, T)', clock.batches * B / clock.seconds, B / on_fast_path(floor2), gib))
    clock, gib = run_stage('stage3')
    rows.append(('3 mixup (S on real + mixed, T target)', clock.batches * B / clock.seconds, B / on_fast_path(floor3), gib))
    return rows


def run_images(cfg, train_images):
    "Images each stage processes in a whole run of `cfg` (stage 1 counts generator and inner steps, as `measure` does)."
    return [cfg.g_epochs * cfg.iters * (1 + cfg.inner_steps) * cfg.bs, cfg.anchor_epochs * train_images, cfg.epochs * train_images]


def hours(seconds): return f"{seconds / 3600:,.2f} h" if seconds >= 360 else f"{seconds:,.0f} s"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='quick', choices=['quick', 'paper'])
    p.add_argument('--device', default=None)
    p.add_argument('--bs', type=int, default=None, help="batch size (default: the preset's)")
    p.add_argument('--iters', type=int, default=4, help='generator steps per stage-1 epoch while timing')
    p.add_argument('--amp', default='auto', choices=AMP_MODES)
    p.add_argument('--channels-last', default='auto', choices=CHANNELS_LAST_MODES)
    p.add_argument('--compile', default='off', choices=COMPILE_MODES)
    p.add_argument('--compare-reference', action='store_true', help="also time the reference behaviour and estimate the whole run both ways")
    p.add_argument('--train-images', type=int, default=1000, help='student-domain train images, for the whole-run estimate of stages 2 and 3')
    a = p.parse_args()
    device = torch.device(a.device) if a.device else default_device()
    full = augkd_config(a.preset, **({'bs': a.bs} if a.bs else {}), amp=a.amp, channels_last=a.channels_last, compile=a.compile)
    timing = dict(g_epochs=2, iters=a.iters, anchor_epochs=2, epochs=2, val_bank=1)
    configs = {'fast path': replace(full, **timing)}
    if a.compare_reference: configs['reference'] = replace(full, **timing, **REFERENCE_SWITCHES)
    B, C = full.bs, 10
    t_arch = model_pair(a.preset)[0]
    tmodel = freeze(build_model(t_arch, C).to(device))
    teacher = Teacher(tmodel, 'bench', None, '', teacher_recipe(a.preset), {}, False)
    data = synthetic_data(4 * B, B)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    fp = FastPath(device, a.amp, a.channels_last, a.compile)
    print(f"AuG-KD stage throughput, preset {a.preset} ({t_arch} → {full.student}, batch {B}), on {name}, torch {torch.__version__}")
    print(f"fast path: bf16 autocast {'on' if fp.amp else 'off'}, channels-last {'on' if fp.channels_last else 'off'}, compile {a.compile}\n")
    results = {k: measure(cfg, device, tmodel, teacher, data, C) for k, cfg in configs.items()}
    mem = device.type == 'cuda'
    print("| stage | stage (img/s) | floor: bare fwd+bwd (img/s) | stage cost / floor |" + (" peak GPU memory |" if mem else ""))
    print("|---|---|---|---|" + ("---|" if mem else ""))
    for n, rate, floor, gib in results['fast path']:
        print(f"| {n} | {rate:,.0f} | {floor:,.0f} | {floor / rate:.2f}× |" + (f" {gib:.1f} GiB |" if mem else ""))
    if not a.compare_reference: return
    images = run_images(full, a.train_images)
    print(f"\nAgainst the reference behaviour (fp32, contiguous, anomaly detection on), and the whole `{a.preset}` run "
          f"({full.g_epochs}×{full.iters} generator steps, {full.anchor_epochs} + {full.epochs} epochs over {a.train_images:,} images):\n")
    print("| stage | reference (img/s) | fast path (img/s) | speed-up | whole run, reference | whole run, fast path |")
    print("|---|---|---|---|---|---|")
    total = {'reference': 0.0, 'fast path': 0.0}
    for i, n_img in enumerate(images):
        r, f = results['reference'][i][1], results['fast path'][i][1]
        total['reference'] += n_img / r; total['fast path'] += n_img / f
        print(f"| {results['fast path'][i][0]} | {r:,.0f} | {f:,.0f} | {f / r:.2f}× | {hours(n_img / r)} | {hours(n_img / f)} |")
    print(f"| whole run | | | {total['reference'] / total['fast path']:.2f}× | {hours(total['reference'])} | {hours(total['fast path'])} |")


if __name__ == '__main__':
    main()
