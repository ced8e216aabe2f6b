"""Scripts: the result grid's table is mean ± std over seeds, per setting and over settings; the stage benchmark runs; the stage-1 curve reads every seed's record."""
import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location('digits_table', Path(__file__).resolve().parents[1]/'scripts'/'digits_table.py')
digits_table = importlib.util.module_from_spec(spec); spec.loader.exec_module(digits_table)


def record(method, setting, seed, test, eval_):
    return {'method': method, 'setting': f'digits:{setting}', 'seed': seed, 'test': {'acc1': test}, 'eval': {'acc1': eval_}}


def test_table_is_mean_and_std_over_seeds():
    recs = [record('augkd', 'A→B', 0, 90.0, 80.0), record('augkd', 'A→B', 1, 92.0, 82.0),
            record('augkd', 'A→C', 0, 70.0, 60.0), record('augkd', 'A→C', 1, 74.0, 64.0)]
    lines = digits_table.table(recs, ['augkd', 'no_kd'], ['A→B', 'A→C']).splitlines()
    assert lines[0] == '| method | A→B | A→C | mean |'
    assert lines[2] == '| augkd | **91.0 ± 1.4** | **72.0 ± 2.8** | **81.5 ± 2.1** |'  # mean column: per-seed means 80, 83
    assert lines[3].startswith('| no_kd | – | – |')
    assert '81.0 ± 1.4' in digits_table.table(recs, ['augkd'], ['A→B', 'A→C'], 'eval')


def test_overrides_parse_as_json_or_text():
    assert digits_table.parse_value('1.0') == 1.0 and digits_table.parse_value('batch_sum') == 'batch_sum'


def test_cost_table_counts_synthesis_inside_the_total():
    recs = [{'method': 'dfq+', 'seconds': {'data_free': 100.0, 'synthesis': 20.0, 'finetune': 10.0}, 'synth_images': 640},
            {'method': 'dfq+', 'seconds': {'data_free': 120.0, 'synthesis': 30.0, 'finetune': 10.0}, 'synth_images': 640},
            {'method': 'no_kd', 'seconds': {'stage3': 35.0}, 'synth_images': 0}]
    lines = digits_table.cost_table(recs, ['dfq+', 'no_kd', 'cmi']).splitlines()
    assert lines[2] == '| dfq+ | 2 | 120 ± 14 | 25 ± 7 | 640 ± 0 |'
    assert lines[3] == '| no_kd | 1 | 35 ± 0 | – | 0 ± 0 |' and lines[4] == '| cmi | 0 | – | – | – |'


def test_stage_benchmark_compares_the_fast_path_with_the_reference(tmp_path):
    "bench/augkd_stages.py runs every stage both ways at a tiny batch and prints both tables (a smoke test: no timing is asserted)."
    import os, subprocess, sys
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root/'bench'/'augkd_stages.py'), '--device', 'cpu', '--bs', '8', '--iters', '1',
                          '--channels-last', 'on', '--compare-reference'], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, 'AUGKD_DATA': str(tmp_path/'cache')}, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'channels-last on' in out.stdout and out.stdout.count('| 1 data-free') == 2 and '| whole run |' in out.stdout


def test_stage1_curve_reads_every_seed_and_refuses_a_missing_cell(tmp_path):
    "scripts/stage1_curve.py: mean ± std of the per-epoch teacher-domain Acc@1 over the seeds' records; a missing seed is an error."
    import json, os, subprocess, sys
    from augkd.grid import expand_grid
    root = Path(__file__).resolve().parents[1]
    for seed, accs in ((0, [10.0, 20.0, 30.0]), (1, [12.0, 24.0, 34.0])):
        cell = expand_grid(['M,U,S→MM'], ['augkd'], [seed], shots=[13])[0]
        (tmp_path/'runs'/cell.group).mkdir(parents=True)
        rec = {'config': {'iters': 10, 'inner_steps': 5}, 'logs': {'stage1': {'epochs': [{'teacher_domain_acc1': a} for a in accs]}}}
        (tmp_path/'runs'/cell.group/'result-augkd.json').write_text(json.dumps(rec))
    run = lambda *seeds: subprocess.run([sys.executable, str(root/'scripts'/'stage1_curve.py'), '--methods', 'augkd', '--seeds', *seeds,
                                         '--runs', str(tmp_path/'runs'), '--out', str(tmp_path/'out')], capture_output=True, text=True,
                                        cwd=tmp_path, env={**os.environ, 'MPLBACKEND': 'Agg'}, timeout=300)
    out = run('0', '1')
    assert out.returncode == 0, out.stderr[-2000:]
    md = (tmp_path/'out'/'stage1_curve.md').read_text()
    assert '`augkd` (50 student steps per epoch): epoch 3: 32.0 ± 2.8; best epoch 3 (32.0).' in md, md
    assert (tmp_path/'out'/'stage1_curve.png').stat().st_size > 0
    out = run('0', '1', '2')
    assert out.returncode != 0 and 'No result of augkd for seeds [2]' in out.stdout + out.stderr
