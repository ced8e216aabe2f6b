"""What each method's pre-stage student knows before it sees a label: AuG-KD's stage-1 (data-free) student against the
data-free and OOD-data baselines' students, on the teacher's domains and on the student domain.

    python scripts/pre_stage_students.py --setting 'M,U,S→MM' --shots 13 --seeds 0 1 2 3 4 [--runs runs/reproduce] [--out FILE.md]
        [--augkd augkd,augkd_stage1_x4] [--baselines deepinv,mosaickd,deepinv@runs/converged_stage1/quick-5a9766]

Reads the checkpoints a grid left in `<runs>/quick/<setting>-seed<seed>-<K>shot/` (an AuG-KD cell, `augkd` or a variant
that changes stage 1, for its stage-1 student; a `<baseline>+` cell for `dfkd-<baseline>-*.pt`; `name@DIR` reads a
baseline from another grid's preset folder, e.g. `runs/converged_stage1/quick-5a9766` for one run with `--set loop.epochs=40`); trains nothing. Printed per student, mean ± std over the seeds found:
Acc@1 (%) on the teacher domains' eval split (the measure of what a data-free stage learnt), Acc@1 on the student
domain's eval split, and agreement with the teacher's top-1 class on that split (how much of the teacher it carries
to the student domain). The teacher's own row is the ceiling of the agreement column. Runs on one thread.
"""
import argparse, glob, json
from pathlib import Path
import torch


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', default='M,U,S→MM')
    p.add_argument('--shots', default='13', help="K of the grid's cells, or 'all'")
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    p.add_argument('--runs', default='runs/reproduce', help='the grid folder (`augkd reproduce --runs`)')
    p.add_argument('--out', help='also write the table to this Markdown file')
    p.add_argument('--augkd', default='augkd', help="AuG-KD methods whose stage-1 student to read (comma-separated)")
    p.add_argument('--baselines', default='deepinv,mosaickd', help="methods whose data-free or OOD-data student to read (from their '+' cells; name@DIR: from another grid's preset folder)")
    a = p.parse_args()
    baselines = [(m, Path(d) if d else None) for m, _, d in (b.partition('@') for b in a.baselines.split(','))]
    for m, d in baselines:
        if d and not d.is_dir(): p.error(f"--baselines {m}@{d}: no such grid preset folder (expected e.g. runs/<grid>/quick-<hash>)")
    torch.set_num_threads(1)
    from augkd.config import AugKDConfig
    from augkd.data import load_setting
    from augkd.figures import trained_networks
    from augkd.models import build_model
    from augkd.teacher import get_teacher
    shots = None if a.shots == 'all' else int(a.shots)
    teacher = get_teacher(a.setting, seed=0, preset='quick')
    rows = {}
    group = f"{a.setting}-seed{{}}{'' if shots is None else f'-{shots}shot'}"
    for seed in a.seeds:
        cell = Path(a.runs)/'quick'/group.format(seed)
        if not (cell/'result-augkd.json').exists(): print(f"skipped seed {seed}: no augkd result in {cell}"); continue
        data = load_setting(a.setting, seed, shots=shots)
        students, arch = {'teacher': teacher.model.eval()}, json.loads((cell/'result-augkd.json').read_text())['config']['student']
        for m in a.augkd.split(','):
            if not (cell/f'result-{m}.json').exists(): print(f"seed {seed}: no {m} result in {cell}, skipped"); continue
            cfg = AugKDConfig(**json.loads((cell/f'result-{m}.json').read_text())['config'])
            label = f"AuG-KD stage 1 (`{m}`, {cfg.g_epochs * cfg.iters * cfg.inner_steps} student steps)"
            students[label] = trained_networks(cfg, data, teacher, cell, seed)['student']
        for m, folder in baselines:
            where = (folder or Path(a.runs)/'quick')/group.format(seed)
            found = glob.glob(str(where/f'dfkd-{m}-*.pt'))
            if len(found) != 1: print(f"seed {seed}: {len(found)} dfkd-{m}-*.pt in {where}, skipped"); continue
            steps = json.loads((where/f'result-{m}+.json').read_text())['logs']['data_free']['student_steps']
            s = build_model(arch, len(data.classes))
            s.load_state_dict(torch.load(found[0], map_location='cpu', weights_only=False)['nets']['student'])
            students[f"{m} ({steps} student steps{', ' + str(folder) if folder else ''})"] = s.eval()
        t_pred = predictions(teacher.model, data.student_eval)
        for name, s in students.items(): rows.setdefault(name, []).append(measures(s, data, t_pred))
    lines = [f"{a.setting}, K = {a.shots}: pre-stage students, mean ± std over the seeds", '',
             "| student | seeds | teacher domains, eval Acc@1 | student domain, eval Acc@1 | agreement with the teacher on the student domain |",
             "|---|---|---|---|---|"]
    for name, ms in rows.items():
        t = torch.tensor(ms)
        lines.append(f"| {name} | {len(ms)} | " + ' | '.join(f"{m:.1f} ± {s:.1f}" for m, s in zip(t.mean(0).tolist(), t.std(0).tolist())) + ' |')
    print('\n' + '\n'.join(lines))
    if a.out: Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text('\n'.join(lines) + '\n')


@torch.no_grad()
def predictions(model, domain) -> torch.Tensor:
    "The model's top-1 class for every image of `domain`, in eval mode."
    from augkd.data import TensorLoader
    model.eval()
    return torch.cat([model(xb).argmax(1) for xb, _ in TensorLoader(domain, 1024)])


def measures(student, data, teacher_pred) -> list:
    "Acc@1 on the teacher domains' eval split, Acc@1 on the student domain's eval split, agreement with `teacher_pred` there (%)."
    from augkd.training import evaluate
    return [evaluate(student, data.teacher_eval)['acc1'], evaluate(student, data.student_eval)['acc1'],
            100 * (predictions(student, data.student_eval) == teacher_pred).float().mean().item()]


if __name__ == '__main__':
    main()
