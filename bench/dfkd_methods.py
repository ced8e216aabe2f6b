"""Data-free baselines: images/s of synthesis and of the student steps per method, against the bare cost of the same networks.

    python bench/dfkd_methods.py [--methods dfq,zskt,dafl,dfad,deepinv,cmi,pre_dfkd] [--preset quick|paper] [--device cpu|cuda]
                                 [--kd-steps 20] [--amp auto|bf16|off] [--channels-last auto|on|off] [--compile off|default|…]

Each method runs the library's own data-free loop (`DFKDMethod.data_free`: a fastai Learner with the method's synthesizer and
its `quick` or `paper` settings) for one epoch of `--kd-steps` student steps, on a teacher with random weights and synthetic
eval data. The loop's own counters split the time: seconds in synthesis and images synthesised, the rest student steps
(the per-epoch eval on a batch of eval images is included there). The student-step floor runs the same networks on the same
batch, on the same fast path (precision, layout), with nothing else: the teacher's forward without gradients, the
student's forward, backward and optimiser step. On CUDA the peak GPU memory of each method's loop is reported too.
"""
import argparse, platform, time
from dataclasses import replace
import torch, torch.nn.functional as F
from augkd.core import default_device
from augkd.models import AMP_MODES, CHANNELS_LAST_MODES, COMPILE_MODES, FastPath, build_model, freeze, model_pair
from augkd.teacher import Teacher, teacher_recipe
from augkd.config import augkd_config
from augkd.dfkd import DFKDMethod, DFKD_BASELINES
from augkd_stages import synthetic_data, sync, timed


def student_floor(teacher, student, bs, device, cfg, reps=3):
    "Seconds per student step of the bare networks on `cfg`'s fast path: teacher forward (no grad), student forward + backward + SGD step."
    opt = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(bs, 3, 32, 32, device=device)
    def step():
        with torch.no_grad(): t = teacher(x)
        F.kl_div(F.log_softmax(student(x), 1), F.softmax(t, 1), reduction='batchmean').backward()
        opt.step(); opt.zero_grad()
    with FastPath(device, cfg.amp, cfg.channels_last, cfg.compile) as fast:
        fast.add(teacher, student)
        return timed(step, device, reps)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--methods', default=','.join(DFKD_BASELINES))
    p.add_argument('--preset', default='quick', choices=['quick', 'paper'])
    p.add_argument('--device', default=None)
    p.add_argument('--kd-steps', type=int, default=20, help='student steps timed per method')
    p.add_argument('--amp', default='auto', choices=AMP_MODES)
    p.add_argument('--channels-last', default='auto', choices=CHANNELS_LAST_MODES)
    p.add_argument('--compile', default='off', choices=COMPILE_MODES)
    a = p.parse_args()
    device = torch.device(a.device) if a.device else default_device()
    cfg = augkd_config(a.preset, amp=a.amp, channels_last=a.channels_last, compile=a.compile)
    mem = device.type == 'cuda'
    t_arch, s_arch = model_pair(a.preset)
    tmodel = freeze(build_model(t_arch, 10).to(device))
    teacher = Teacher(tmodel, 'bench', None, '', teacher_recipe(a.preset), {}, False)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"Data-free baselines, preset {a.preset} ({t_arch} → {s_arch}), {a.kd_steps} student steps each, on {name}, torch {torch.__version__}\n")
    fp = FastPath(device, a.amp, a.channels_last, a.compile)
    print(f"fast path: bf16 autocast {'on' if fp.amp else 'off'}, channels-last {'on' if fp.channels_last else 'off'}, compile {a.compile}\n")
    print("| method | student batch | synthesis (img/s) | student steps (img/s) | floor (img/s) | student cost / floor | share of time in synthesis |"
          + (" peak GPU memory |" if mem else ""))
    print("|---|---|---|---|---|---|---|" + ("---|" if mem else ""))
    for m in a.methods.split(','):
        method = DFKDMethod(m, cfg)
        loop = replace(method.loop, epochs=1, kd_steps=a.kd_steps)
        method.loop = loop
        data = synthetic_data(4 * loop.bs, loop.bs)
        student = build_model(s_arch, 10).to(device)
        if mem: torch.cuda.reset_peak_memory_stats(device)
        sync(device); t0 = time.perf_counter()
        log = method.data_free(data, teacher, student, device)
        sync(device); total = time.perf_counter() - t0
        synth, steps = log['synth_seconds'], log['student_steps']
        rate = steps * loop.bs / (total - synth)
        gib = torch.cuda.max_memory_allocated(device) / 2**30 if mem else 0
        floor = loop.bs / student_floor(tmodel, build_model(s_arch, 10).to(device), loop.bs, device, cfg)
        print(f"| {m} | {loop.bs} | {log['synth_images'] / synth:,.0f} | {rate:,.0f} | {floor:,.0f} | {floor / rate:.2f}× | {synth / total:.0%} |"
              + (f" {gib:.1f} GiB |" if mem else ""))


if __name__ == '__main__':
    main()
