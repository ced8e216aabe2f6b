"""AuG-KD's stage-1 learning curve from a finished grid: the data-free student's Acc@1 on the teacher domains' eval split
(the measure of what stage 1 learnt) after each stage-1 epoch, for each AuG-KD method given (e.g. the `quick` budget
and `augkd_stage1_x4`, four times longer).

    python scripts/stage1_curve.py --setting 'M,U,S→MM' --shots 13 --seeds 0 1 2 3 4 \\
        --methods augkd,augkd_stage1_x4 [--runs runs/reproduce] [--out figures/study]

Reads the per-epoch stage-1 log of each cell's result record (`<runs>/<preset>/<group>/result-<method>.json`); trains
nothing and refuses when a cell is missing. Writes `stage1_curve.png/.svg` and `stage1_curve.md` (mean ± std over the
seeds at every tenth epoch and at the last, with the best epoch) to `--out`.
"""
import argparse, json
from pathlib import Path
import numpy as np
from learning_curves import curves, shots_arg


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', default='M,U,S→MM')
    p.add_argument('--shots', type=shots_arg, default=13)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    p.add_argument('--methods', default='augkd,augkd_stage1_x4', help='AuG-KD methods (comma-separated)')
    p.add_argument('--runs', default='runs/reproduce')
    p.add_argument('--out', default='figures/study')
    a = p.parse_args()
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from augkd.grid import expand_grid
    from augkd.figures import save_figure
    runs, out = Path(a.runs), Path(a.out)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    lines = [f"{a.setting}, K = {a.shots or 'all'}: the stage-1 student's Acc@1 (%) on the teacher domains' eval split, mean ± std (sample) over {len(a.seeds)} seeds", '']
    for m in a.methods.split(','):
        cells = expand_grid([a.setting], [m], a.seeds, shots=[a.shots])
        missing = [c for c in cells if not (runs/c.group/f'result-{m}.json').exists()]
        if missing: raise SystemExit(f"No result of {m} for seeds {[c.seed for c in missing]} in {runs}: run the grid first.")
        cfg = json.loads((runs/cells[0].group/f'result-{m}.json').read_text())['config']
        steps = cfg['iters'] * cfg['inner_steps']
        ep, mean, std = curves(cells, runs, 'stage1', lambda log: [e['teacher_domain_acc1'] for e in log['epochs']], ddof=1)[a.shots]
        ax.plot(ep, mean, label=f"{m} ({len(ep)} epochs, {len(ep) * steps} student steps)"); ax.fill_between(ep, mean - std, mean + std, alpha=0.2)
        marks = sorted({*range(10, len(ep) + 1, 10), len(ep)})
        lines.append(f"- `{m}` ({steps} student steps per epoch): " + ', '.join(f"epoch {e}: {mean[e - 1]:.1f} ± {std[e - 1]:.1f}" for e in marks)
                     + f"; best epoch {int(np.argmax(mean)) + 1} ({mean.max():.1f}).")
    ax.axhline(10, color='grey', lw=0.8, ls=':', label='chance (10 classes)')
    ax.set_xlabel('stage-1 epochs'); ax.set_ylabel("stage-1 student's Acc@1 (%)"); ax.legend(fontsize=8)
    ax.set_title(f"AuG-KD stage 1 on {a.setting}, teacher domains' eval split; mean ± std over {len(a.seeds)} seeds", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out/'stage1_curve')
    (out/'stage1_curve.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
