"""Methods on the digits leave-one-out settings: mean ± std Acc@1 over seeds, on the test split (and the eval split).

    python scripts/digits_table.py [--report] [--seeds 0 1 2] [--methods augkd,no_kd,raw_kd,no_anchor,no_mixup]
                                   [--preset quick] [--set key=value ...] [--variant NAME:key=value[,key=value] ...]
                                   [--jobs 2] [--out runs/digits-quick] [--table FILE.md]

`--methods` takes any registered method (`augkd.methods.METHODS`: AuG-KD and its ablations, `no_kd`, `raw_kd`, 4Ds,
the data-free baselines and their '+' variants); `--set 4ds.key=value` and `loop.key=value` reach only the methods that have them. `--variant ce0.1:anchor_ce_weight=0.1` adds the row `augkd-ce0.1`:
full AuG-KD with those settings changed, sharing the cell's checkpoints of every stage the change does not touch.

Each (setting, seed) cell runs its methods in one process, in order, so the ablations reuse the cell's
stage-1 (and stage-2) checkpoints and a '+' variant its data-free student; a finished method (its result-<method>.json)
is skipped, so an interrupted grid resumes. The teacher of a setting is its `quick` teacher of seed 0 (cached under
data/teachers); the student-domain splits change with the seed. Selection is on the eval split.
Cells run in parallel, `--jobs` processes with one thread each.
"""
import argparse, json, os, statistics, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

METHODS = 'augkd,no_kd,raw_kd,no_anchor,no_mixup'
LOO = ('M,MM,S→U', 'M,U,S→MM', 'M,U,MM→S')


def parse_value(v):
    try: return json.loads(v)
    except json.JSONDecodeError: return v


def run_cell(setting, seed, methods, preset, changes, variants, out):
    "Run every method of one (setting, seed) cell; return their result records."
    import torch
    from dataclasses import replace
    torch.set_num_threads(1)
    from augkd.data import load_setting
    from augkd.teacher import get_teacher
    from augkd.stages import AugKD
    from augkd.config import augkd_config
    from augkd.methods import configured_method, changes_for, split_changes
    run_dir = Path(out)/f'{setting}-seed{seed}'
    data, teacher = load_setting(setting, seed), get_teacher(setting, seed=0, preset='quick')
    cfg, records = augkd_config(preset, **split_changes(changes)[0]), []
    for m in methods:
        done = run_dir/f'result-{m}.json'
        if done.exists(): records.append(json.loads(done.read_text())); continue
        t0 = time.time()
        if m in variants: records.append(AugKD(replace(cfg, **variants[m])).fit(data, teacher, run_dir, seed, tag=m[len('augkd'):]))
        else: records.append(configured_method(m, preset, changes_for(m, changes)).fit(data, teacher, run_dir, seed))
        print(f"{setting} seed {seed} {m}: test Acc@1 {records[-1]['test']['acc1']:.1f} ({time.time() - t0:.0f} s)", flush=True)
    return records


def table(records, methods, settings, split='test'):
    "Markdown (augkd.results): one row per method, one column per setting plus the mean over settings; mean ± std over seeds."
    import pandas as pd
    from augkd.results import summary_table, table_markdown
    rows = [dict(method=r['method'], setting=r['setting'].split(':')[-1], seed=r['seed'], split=split, metric='acc1', value=r[split]['acc1'])
            for r in records]
    df = pd.DataFrame(rows, columns=['method', 'setting', 'seed', 'split', 'metric', 'value'])
    return table_markdown(summary_table(df, split, 'acc1', methods, settings)).rstrip('\n')


def cost_table(records, methods):
    "Markdown: per method, mean ± std over its runs of the total seconds (synthesis included), synthesis seconds and images synthesised."
    by = {}
    for r in records: by.setdefault(r['method'], []).append(r)
    fmt = lambda v: f"{statistics.mean(v):.0f} ± {statistics.stdev(v) if len(v) > 1 else 0:.0f}" if v else '–'
    lines = ['| method | runs | seconds in total | of which synthesis | images synthesised |', '|---|---|---|---|---|']
    for m in methods:
        rs = by.get(m, [])
        synth = [r['seconds']['synthesis'] for r in rs if 'synthesis' in r['seconds']]
        lines.append(f"| {m} | {len(rs)} | {fmt([sum(r['seconds'].values()) - r['seconds'].get('synthesis', 0) for r in rs])} | "
                     f"{fmt(synth)} | {fmt([r.get('synth_images', 0) for r in rs])} |")
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--settings', nargs='+', default=list(LOO))
    p.add_argument('--methods', default=METHODS)
    p.add_argument('--preset', default='quick')
    p.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE', help='AuG-KD config overrides, e.g. anchor_ce_weight=1.0')
    p.add_argument('--variant', nargs='*', default=[], metavar='NAME:KEY=VALUE[,KEY=VALUE]', help='extra AuG-KD rows, e.g. ce0.1:anchor_ce_weight=0.1')
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--out', default='runs/digits-quick')
    p.add_argument('--table', default=None, help='also write the Markdown table here')
    p.add_argument('--report', action='store_true', help='train nothing: tabulate the results already in --out')
    a = p.parse_args(argv)
    methods = a.methods.split(',')
    pairs = lambda items: {k: parse_value(v) for k, v in (s.split('=', 1) for s in items)}
    changes = pairs(a.set)
    variants = {f'augkd-{v.split(":", 1)[0]}': pairs(v.split(':', 1)[1].split(',')) for v in a.variant}
    methods += list(variants)
    cells = [(s, seed) for seed in a.seeds for s in a.settings]
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    t0 = time.time()
    if a.report:
        found = [Path(a.out)/f'{s}-seed{seed}'/f'result-{m}.json' for s, seed in cells for m in methods]
        records = [json.loads(f.read_text()) for f in found if f.exists()]
    else:
        with ProcessPoolExecutor(a.jobs) as pool:
            futures = [pool.submit(run_cell, s, seed, methods, a.preset, changes, variants, a.out) for s, seed in cells]
            records = [r for f in futures for r in f.result()]
    md = table(records, methods, a.settings)
    print(f"\nTest Acc@1 (%), mean ± std over seeds {a.seeds}, preset {a.preset!r} {changes or ''}; {time.time() - t0:.0f} s\n\n{md}")
    print(f"\nEval Acc@1 (%), the split used for selection and tuning\n\n{table(records, methods, a.settings, 'eval')}")
    cost = cost_table(records, methods)
    print(f"\nCost per run (seconds as recorded when each run was made; a stage shared between methods counts in full for each)\n\n{cost}")
    if a.table: Path(a.table).write_text(md + '\n\n' + cost + '\n')


if __name__ == '__main__': main()
