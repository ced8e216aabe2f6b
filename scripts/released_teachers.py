"""The released teachers on the embedded digit domains: Acc@1 on each whole domain through augkd's adapter
(`augkd.released.AdaptedTeacher`) and through the `ccexam` package's own inference pipeline, side by side.

    python scripts/released_teachers.py [--teachers ccexam:svhn,ccexam:usps,ccexam:mnist] [--domains M,U,MM,S] [--out figures/released]

Trains nothing. Writes `released_teachers.md` (a Markdown table) to `--out` and prints it.
"""
import argparse
from pathlib import Path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--teachers', default='ccexam:svhn,ccexam:usps,ccexam:mnist', help='packaged teachers (comma-separated)')
    p.add_argument('--domains', default='M,U,MM,S', help='embedded digit domains (comma-separated), each measured whole')
    p.add_argument('--out', default='figures/released')
    a = p.parse_args()
    from augkd.digits import digit_domain
    from augkd.released import RELEASED_TEACHERS, released_teacher, ccexam_accuracy, batchnorm_layers
    from augkd.training import evaluate
    teachers, domains = a.teachers.split(','), a.domains.split(',')
    doms = {d: digit_domain(d) for d in domains}
    rows = ["Released teachers on the whole embedded digit domains: Acc@1 (%) through augkd's adapter / through the package's own inference. "
            f"Command: `python scripts/released_teachers.py --teachers {a.teachers} --domains {a.domains}`.", '',
            '| teacher | trained on | BatchNorm | ' + ' | '.join(f"{d} ({len(doms[d])})" for d in domains) + ' |',
            '|---|---|---|' + '---|' * len(domains)]
    for name in teachers:
        t, info = released_teacher(name, device='cpu'), RELEASED_TEACHERS[name]
        cells = [f"{evaluate(t.model, doms[d])['acc1']:.1f} / {ccexam_accuracy(name, doms[d]):.1f}" for d in domains]
        rows.append(f"| `{name}` | {info.trained_on} | {'yes' if batchnorm_layers(t.model) else 'no'} | " + ' | '.join(cells) + ' |')
        print(rows[-1], flush=True)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/'released_teachers.md').write_text('\n'.join(rows) + '\n')
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
