"""4Ds against plain KD: images/s of each method's own student loop, against the bare cost of the same networks.

    python bench/fourds.py [--preset quick|paper] [--device cpu|cuda] [--steps 20] [--bs N]
                           [--amp auto|bf16|off] [--channels-last auto|on|off] [--compile off|default|…]

Both loops train on labelled images for one epoch of `--steps` optimiser steps, on a teacher with random weights and
synthetic data: plain KD is `raw_kd` (AuG-KD's stage 3 on real images: CE + KD to the teacher), 4Ds is `FourDs.train_student`
(the teacher with a Fourier adapter after each stage, its backward into the adapters and their AdamW step, the student's
phase maps, the gated phase hint). Only the training phases are timed (the per-epoch eval is left out). The floor is the
bare networks on the same batch and fast path: the teacher's forward without gradients, the student's forward, backward and
SGD step, the cost plain KD cannot go below. On CUDA the peak GPU memory of each loop is reported too.
"""
import argparse, platform, time
from dataclasses import replace
import torch
from augkd.core import default_device
from augkd.models import AMP_MODES, CHANNELS_LAST_MODES, COMPILE_MODES, FastPath, build_model, freeze, model_pair
from augkd.teacher import Teacher, teacher_recipe
from augkd.config import augkd_config
from augkd.finetune import student_domain_config
from augkd.stages import AugKD
from augkd.fourds import FourDs, FourDsStudent, fourds_config, stage_modules
from augkd_stages import Clock, synthetic_data, sync
from dfkd_methods import student_floor


def kd_loop(cfg, data, teacher, device, clock):
    "raw_kd's loop: stage 3 on real images with the teacher's KD."
    nets = {'student': build_model(cfg.student, 10), 'gen': None, 'enc': None, 'anchor': None}
    AugKD(student_domain_config(cfg)).stage3(data, teacher, nets, device, anchor=False, f_override=1.0, kd=True, cbs=[clock])


def fourds_loop(cfg, fcfg, data, teacher, device, clock):
    "4Ds's loop on the same budget."
    student = FourDsStudent(build_model(cfg.student, 10), [s for _, _, s in stage_modules(teacher.model)], fcfg.gate_reduction)
    FourDs(cfg, fcfg).train_student(data, teacher, student, device, cbs=[clock])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='quick', choices=['quick', 'paper'])
    p.add_argument('--device', default=None)
    p.add_argument('--steps', type=int, default=20, help='optimiser steps timed per method')
    p.add_argument('--bs', type=int, default=None, help="batch (default: the preset's 4Ds batch, for both methods)")
    p.add_argument('--amp', default='auto', choices=AMP_MODES)
    p.add_argument('--channels-last', default='auto', choices=CHANNELS_LAST_MODES)
    p.add_argument('--compile', default='off', choices=COMPILE_MODES)
    a = p.parse_args()
    device = torch.device(a.device) if a.device else default_device()
    fcfg = fourds_config(a.preset, epochs=1, epoch_steps=a.steps)
    bs = a.bs or fcfg.bs
    fcfg = replace(fcfg, bs=bs)
    cfg = augkd_config(a.preset, bs=bs, epochs=1, epoch_steps=a.steps, amp=a.amp, channels_last=a.channels_last, compile=a.compile)
    mem = device.type == 'cuda'
    t_arch, s_arch = model_pair(a.preset)
    tmodel = freeze(build_model(t_arch, 10).to(device))
    teacher = Teacher(tmodel, 'bench', None, '', teacher_recipe(a.preset), {}, False)
    data = synthetic_data(4 * bs, bs)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    fp = FastPath(device, a.amp, a.channels_last, a.compile)
    print(f"4Ds against plain KD, preset {a.preset} ({t_arch} → {s_arch}), batch {bs}, {a.steps} steps each, on {name}, torch {torch.__version__}; "
          f"bf16 autocast {'on' if fp.amp else 'off'}, channels-last {'on' if fp.channels_last else 'off'}, compile {a.compile}\n")
    floor = bs / student_floor(tmodel, build_model(s_arch, 10).to(device), bs, device, cfg)
    print("| loop | images/s | floor (img/s) | cost / floor |" + (" peak GPU memory |" if mem else ""))
    print("|---|---|---|---|" + ("---|" if mem else ""))
    rates = {}
    for label, run in (('plain KD (raw_kd)', lambda c: kd_loop(cfg, data, teacher, device, c)),
                       ('4Ds', lambda c: fourds_loop(cfg, fcfg, data, teacher, device, c))):
        clock = Clock()
        if mem: torch.cuda.reset_peak_memory_stats(device)
        run(clock)
        rates[label] = rate = clock.batches * bs / clock.seconds
        gib = torch.cuda.max_memory_allocated(device) / 2**30 if mem else 0
        print(f"| {label} | {rate:,.0f} | {floor:,.0f} | {floor / rate:.2f}× |" + (f" {gib:.1f} GiB |" if mem else ""))
    print(f"\n4Ds costs {rates['plain KD (raw_kd)'] / rates['4Ds']:.2f}× plain KD per image.")


if __name__ == '__main__':
    main()
