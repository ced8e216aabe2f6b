"""Teacher-training throughput per preset on this machine's device: bare network step vs the full fastai Learner.

    python bench/teacher_throughput.py [--presets quick paper] [--steps N] [--device cpu|cuda]

'bare' is forward + backward + Adam step of the network alone on one resident batch (the floor);
'learner' is `teacher_learner(...).fit(1)` over device-resident tensors with augmentation, callbacks and metrics.
"""
import argparse, platform, time
import torch, torch.nn.functional as F
from fastai.callback.core import Callback
from augkd.core import default_device
from augkd.domains import Domain
from augkd.data import Setting, SettingData
from augkd.models import build_model
from augkd.teacher import teacher_recipe, teacher_learner
def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def bare_step_rate(recipe, device, steps):
    "Images/s of forward + backward + optimiser step on one resident batch."
    model = build_model(recipe.arch, 10, recipe.stem).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), recipe.lr)
    x = torch.rand(recipe.bs, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (recipe.bs,), device=device)
    amp = torch.autocast('cuda', torch.bfloat16) if device.type == 'cuda' else torch.autocast('cpu', enabled=False)
    def step():
        with amp: loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    for _ in range(2): step()
    sync(device); t = time.perf_counter()
    for _ in range(steps): step()
    sync(device)
    return steps * recipe.bs / (time.perf_counter() - t)


def learner_rate(recipe, device, steps):
    "Images/s of one fastai epoch of `steps` batches (validation excluded)."
    n = steps * recipe.bs
    dom = lambda k: Domain('synthetic', torch.randint(0, 256, (k, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (k,)), [str(i) for i in range(10)])
    tr, ev = dom(n), dom(recipe.bs)
    data = SettingData(Setting('synthetic', ('A',), 'B'), 0, tr.classes, tr, ev, ev, ev, ev, [], '')
    learn = teacher_learner(data, recipe, build_model(recipe.arch, 10, recipe.stem), device)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, recipe.lr)   # warm-up epoch
    times = {}
    class Clock(Callback):
        def before_train(self): sync(device); times['t0'] = time.perf_counter()
        def after_train(self): sync(device); times['t1'] = time.perf_counter()
    learn.add_cb(Clock())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, recipe.lr)
    return n / (times['t1'] - times['t0'])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--presets', nargs='+', default=['quick', 'paper'])
    p.add_argument('--steps', type=int, default=None, help='timed steps (default: 20 for quick or on GPU, 2 for paper on CPU)')
    p.add_argument('--device', default=None)
    a = p.parse_args()
    device = torch.device(a.device) if a.device else default_device()
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"Teacher-training throughput on {name} (torch {torch.__version__})\n")
    print("| preset | teacher | batch | bare step (img/s) | fastai Learner (img/s) | Learner / bare | peak GPU memory |")
    print("|---|---|---|---|---|---|---|")
    for preset in a.presets:
        r = teacher_recipe(preset)
        steps = a.steps or (2 if preset == 'paper' and device.type == 'cpu' else 20)
        if device.type == 'cuda': torch.cuda.reset_peak_memory_stats()
        bare = bare_step_rate(r, device, steps)
        full = learner_rate(r, device, steps)
        mem = f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == 'cuda' else '—'
        print(f"| {preset} | {r.arch} | {r.bs} | {bare:,.0f} | {full:,.0f} | {full / bare:.2f} | {mem} |", flush=True)


if __name__ == '__main__':
    main()
