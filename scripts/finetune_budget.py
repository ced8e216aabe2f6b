"""The '+' fine-tune of a data-free student against its budget: how many epochs of AuG-KD's stage 3 (CE only, f = 1) it needs.

    python scripts/finetune_budget.py --cell "runs/augkd-digits-quick/M,U,MM→S-seed0" [--starts fresh,dfad,zskt,dfq]
                                      [--epochs 20 60] [--reset-head]

Each start is a student: `fresh` (a new network, as `no_kd`) or a method's data-free student, read from the cell's
`dfkd-<method>-*.pt` checkpoint (written by `scripts/digits_table.py`). Each is fine-tuned on the cell's setting and seed
exactly as the method's '+' variant is (`train_on_student_domain`, the `quick` preset) for every `--epochs` budget;
`--reset-head` also re-initialises the data-free students' classifier layer. At the grid's budget (20 epochs) a row
reproduces the grid's `no_kd` or '<method>+' result exactly (same seeds). Printed: the data-free student's Acc@1 on
the eval split before fine-tuning, the training loss after each fifth of the epochs, and eval / test Acc@1 of the
checkpoint selected on the eval split. Runs on one thread.
"""
import argparse, glob, re
from dataclasses import replace
from pathlib import Path
import torch, torch.nn as nn


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--cell', required=True, help='a grid cell folder, named <setting>-seed<seed>')
    p.add_argument('--starts', default='fresh,dfad,zskt,dfq')
    p.add_argument('--epochs', type=int, nargs='+', default=[20, 60])
    p.add_argument('--reset-head', action='store_true')
    a = p.parse_args()
    torch.set_num_threads(1)
    from augkd.core import seed_everything
    from augkd.data import load_setting
    from augkd.teacher import get_teacher
    from augkd.training import evaluate
    from augkd.models import build_model
    from augkd.config import augkd_config
    from augkd.finetune import train_on_student_domain
    from augkd.runs import load_stage
    from augkd.core import stable_int
    cell = Path(a.cell)
    m = re.fullmatch(r'(.+)-seed(\d+)', cell.name)
    if not m or not cell.is_dir(): raise SystemExit(f"--cell {a.cell}: expected an existing folder named <setting>-seed<seed>.")
    setting, seed = m[1], int(m[2])
    data, teacher = load_setting(setting, seed), get_teacher(setting, seed=0, preset='quick')
    print(f"{setting}, seed {seed}: the '+' fine-tune (quick preset) from each start\n")
    print("| start | head | epochs | eval Acc@1 before | train loss at 1/5, 2/5, …, 5/5 of the epochs | best epoch | eval Acc@1 | test Acc@1 |")
    print("|---|---|---|---|---|---|---|---|")
    for start in a.starts.split(','):
        for epochs in a.epochs:
            cfg = replace(augkd_config('quick'), epochs=epochs)
            seed_everything(stable_int(seed, 'no_kd'))                 # as `no_kd` seeds before building its student
            student = build_model(cfg.student, len(data.classes))
            if start != 'fresh':
                found = glob.glob(str(cell/f'dfkd-{start}-*.pt'))
                if not found: raise SystemExit(f"{cell}: no dfkd-{start}-*.pt; run `scripts/digits_table.py --methods {start}` first.")
                student.load_state_dict(torch.load(found[0], map_location='cpu', weights_only=False)['nets']['student'])
                seed_everything(stable_int(seed, start + '+'))         # as the '+' variant seeds before fine-tuning
                if a.reset_head: [mod for mod in student.modules() if isinstance(mod, nn.Linear)][-1].reset_parameters()
            before = evaluate(student, data.student_eval)['acc1']
            log = train_on_student_domain(cfg, data, teacher, student, torch.device('cpu'))
            losses = [log['history'][max(0, round(epochs * k / 5) - 1)][0] for k in range(1, 6)]
            head = 'new' if a.reset_head and start != 'fresh' else 'kept'
            print(f"| {start} | {head} | {epochs} | {before:.1f} | {', '.join(f'{l:.2f}' for l in losses)} | {log['best_epoch']} | "
                  f"{evaluate(student, data.student_eval)['acc1']:.1f} | {evaluate(student, data.student_test)['acc1']:.1f} |", flush=True)


if __name__ == '__main__':
    main()
