"""Learning curves that choose the benchmark's budgets: `no_kd`'s eval Acc@1 against its optimiser steps at each K, and
AuG-KD's stage-1 student against stage-1 epochs on the teacher domains' eval split.

    python scripts/learning_curves.py [--settings M→U] [--shots 5 13 50 all] [--seeds 0 1] [--epochs 40 --epoch-steps 25]
                                      [--stage1-epochs 30] [--runs runs/curves] [--out figures] [--jobs 2]

Both curves come from ordinary grid cells (`augkd.reproduce`, recorded in `<runs>/results.sqlite`): `no_kd` with
`--epochs` epochs of `--epoch-steps` optimiser steps each, at every `--shots` value, and `augkd` with `--stage1-epochs`
stage-1 epochs (its stages 2 and 3 at the same budget as `no_kd`). Every epoch's eval Acc@1 is in each run's log, so
the figure reads the result records; nothing is selected on test. Writes `learning_curves_<settings>.png/.svg` and a
Markdown table of the eval Acc@1 at a few budgets (mean ± std over seeds, and over settings when several are given) to
`<out>/learning_curves_<settings>.md`.
"""
import argparse, json
from pathlib import Path
import numpy as np


def shots_arg(text): return None if text == 'all' else int(text)


def curves(cells, runs:Path, stage:str, column, ddof:int=0) -> dict:
    "{label: (steps, mean over cells of the per-epoch value, std with `ddof`)} from the cells' result records."
    out = {}
    for c in cells:
        res = json.loads((runs/c.group/f'result-{c.method}.json').read_text())
        log = res['logs'][stage]
        out.setdefault(c.shots, []).append(column(log))
    return {k: (np.arange(1, len(v[0]) + 1), np.mean(v, 0), np.std(v, 0, ddof=ddof)) for k, v in out.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--settings', nargs='+', default=['M→U'])
    p.add_argument('--shots', type=shots_arg, nargs='+', default=[5, 13, 50, None])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--epochs', type=int, default=40, help='no_kd epochs (default: 40)')
    p.add_argument('--epoch-steps', type=int, default=25, help='optimiser steps per epoch (default: 25)')
    p.add_argument('--stage1-epochs', type=int, default=30, help="AuG-KD's stage-1 epochs (0: no stage-1 curve; default: 30)")
    p.add_argument('--runs', default='runs/curves')
    p.add_argument('--out', default='figures')
    p.add_argument('--jobs', type=int, default=2)
    a = p.parse_args()
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from augkd.grid import expand_grid
    from augkd.reproduce import reproduce
    from augkd.figures import save_figure
    runs, out = Path(a.runs), Path(a.out)
    stem = 'learning_curves_' + '_'.join(x.replace('→', '-to-').replace(',', '') for x in a.settings)
    budget = {'epochs': a.epochs, 'epoch_steps': a.epoch_steps}
    cells = expand_grid(a.settings, ['no_kd'], a.seeds, changes=budget, shots=a.shots)
    s1 = expand_grid(a.settings, ['augkd'], a.seeds, changes={**budget, 'g_epochs': a.stage1_epochs}, shots=[13]) if a.stage1_epochs else []
    reproduce(cells + s1, runs, figures=None, jobs=a.jobs)
    eval_acc1 = lambda log: [100 * row[2] for row in log['history']]    # recorder row: train loss, valid loss, Acc@1, Acc@3, Acc@5 (fractions)
    nokd = curves(cells, runs, 'stage3', eval_acc1)
    fig, axs = plt.subplots(1, 2 if s1 else 1, figsize=(10 if s1 else 5, 3.4), squeeze=False)
    ax = axs[0, 0]
    for k, (ep, m, s) in nokd.items():
        ax.plot(ep * a.epoch_steps, m, label=f"K = {k or 'all'}"); ax.fill_between(ep * a.epoch_steps, m - s, m + s, alpha=0.2)
    ax.set_xlabel('no_kd optimiser steps'); ax.set_ylabel('eval Acc@1 (%)'); ax.legend(fontsize=8)
    ax.set_title(f"no_kd, {', '.join(a.settings)}; mean ± std over {len(a.seeds)} seeds", fontsize=9)
    marks = (a.epochs // 4, a.epochs // 2, a.epochs)
    lines = ['| K | ' + ' | '.join(f'{e * a.epoch_steps} steps' for e in marks) + ' |', '|---|---|---|---|']
    for k, (ep, m, s) in nokd.items():
        lines.append(f"| {k or 'all'} | " + ' | '.join(f'{m[e - 1]:.1f} ± {s[e - 1]:.1f}' for e in marks) + ' |')
    if s1:
        probe = curves(s1, runs, 'stage1', lambda log: [e['teacher_domain_acc1'] for e in log['epochs']])
        student = curves(s1, runs, 'stage1', lambda log: [e['student_acc1'] for e in log['epochs']])
        ax = axs[0, 1]
        for name, (ep, m, s) in (('teacher domains (eval)', probe[13]), ('student domain (eval)', student[13])):
            ax.plot(ep, m, label=name); ax.fill_between(ep, m - s, m + s, alpha=0.2)
        ax.set_xlabel('stage-1 epochs'); ax.set_ylabel("data-free student's Acc@1 (%)"); ax.legend(fontsize=8)
        ax.set_title(f"AuG-KD stage 1; mean ± std over {len(a.seeds)} seeds", fontsize=9)
        ep, m, s = probe[13]
        lines += ['', f"Stage 1: the data-free student's Acc@1 on the teacher domains' eval split after {len(ep)} epochs: {m[-1]:.1f} ± {s[-1]:.1f}"
                  f" (best epoch {int(np.argmax(m)) + 1}: {m.max():.1f})."]
    fig.tight_layout()
    save_figure(fig, out/stem)
    (out/f'{stem}.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
