"""Same seed, same machine, same thread count: identical weights, losses and metrics, whatever else differs between the two processes."""
import json, os, subprocess, sys
from pathlib import Path

PROBE = Path(__file__).parent/'determinism_probe.py'


def probe(run_dir, cache, hash_seed, *flags):
    "The probe's fingerprint from a fresh process with its own PYTHONHASHSEED (torch seeds every new process differently as well)."
    env = {**os.environ, 'AUGKD_DATA': str(cache), 'PYTHONHASHSEED': str(hash_seed), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, str(PROBE), str(run_dir), *flags], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_two_processes_train_identical_networks(env, tmp_path):
    data, teacher = env                                    # builds the M→U domains and the teacher in the module's cache
    cache = Path(os.environ['AUGKD_DATA'])
    a = probe(tmp_path/'a', cache, 1)
    b = probe(tmp_path/'b', cache, 2, '--burn')            # another hash seed and another history of the global generators
    assert a['threads'] == b['threads'] == 1
    fa, fb = a['fingerprint'], b['fingerprint']
    stage_files = {'stage1', 'stage2', 'stage3', 'dfkd-dfq', 'dfkd-mosaickd'}
    assert {f.rsplit('-', 1)[0].replace('-full', '') for f in fa if f.endswith('.pt') and not f.startswith('student-')} == stage_files
    assert {f for f in fa if f.startswith('student-')} == {f'student-{m}.pt' for m in fa if not m.endswith('.pt')}   # every run saved its student
    for name in fa: assert fa[name] == fb[name], f"{name} differs between the two processes"
    assert fa.keys() == fb.keys()
