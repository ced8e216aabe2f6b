"""One run on several processes: DDP with gloo on CPU matches one process; every method family trains under DDP; rank 0 writes."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
from augkd.launch import run_distributed, torchrun_command

HERE = Path(__file__).parent
TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node=2']


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'}, **kw)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def test_two_gloo_ranks_match_one_process(env, tmp_path):
    "AuG-KD's three stages and the student-only loop: the global-batch losses of the first steps on 2 ranks equal one process's."
    run([sys.executable, str(HERE/'ddp'/'first_losses.py'), str(tmp_path/'one.json')])
    run(TORCHRUN + [str(HERE/'ddp'/'first_losses.py'), str(tmp_path/'two.json')])
    one, two = (json.loads((tmp_path/f'{n}.json').read_text()) for n in ('one', 'two'))
    for k in ('stage1', 'stage2', 'stage3', 'raw_kd'):
        assert len(one[k]) == 3
        assert two[k] == pytest.approx(one[k], rel=2e-4), k
    assert two['stage1'] == pytest.approx(one['stage1'], rel=1e-5)          # stage 1 and the student-only loop: float noise only
    assert two['raw_kd'] == pytest.approx(one['raw_kd'], rel=1e-5)
    assert two['generator_checksum'] == pytest.approx(one['generator_checksum'], rel=1e-6)


def test_every_method_family_trains_under_ddp_and_rank0_writes(env, tmp_path):
    run(TORCHRUN + [str(HERE/'ddp'/'methods.py'), str(tmp_path)])
    res = json.loads((tmp_path/'results.json').read_text())
    assert res['world'] == 2 and len(res['results']) == 13
    assert set(res['wrapped']) == {'DistributedDataParallel'} and len(res['wrapped']) >= 17     # every fit (stages, loops, fine-tunes)
    rank0, rank1 = (json.loads((tmp_path/f'writes-rank{r}.json').read_text()) for r in (0, 1))
    assert rank1 == []                                                                          # only rank 0 writes
    assert len(rank0) == len(set(rank0)) and {f'result-{m}.json' for m in res['results']} <= set(rank0)
    assert res['results']['dfq+']['synth_images'] == 8                                          # 2 ranks × 4: counted over the ranks


def test_cli_run_on_two_processes(env, tmp_path):
    "`augkd run --nproc 2` prepares the teacher in the launcher, runs torchrun, and prints the result rank 0 wrote."
    r = run([sys.executable, '-m', 'augkd.cli', 'run', '--setting', 'M→U', '--method', 'no_kd', '--set', 'epochs=1', 'bs=32',
             '--teacher-set', 'epochs=1', '--run-dir', str(tmp_path), '--device', 'cpu', '--nproc', '2'])
    assert '(2 processes)' in r.stdout and (tmp_path/'result-no_kd.json').exists()
    assert json.loads((tmp_path/'result-no_kd.json').read_text())['method'] == 'no_kd'


def test_bad_distributed_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match='batch size 33 does not divide among 2 processes'):
        run_distributed('M→U', 'no_kd', changes={'bs': 33}, nproc=2, device='cpu')
    with pytest.raises(ValueError, match='needs 2 GPUs, but this machine has'):
        run_distributed('M→U', 'no_kd', nproc=2, device='cuda')
    with pytest.raises(ValueError, match='Valid method names'):
        run_distributed('M→U', 'no_such_method', nproc=2, device='cpu')
    with pytest.raises(ValueError, match='nproc must be at least 1'): run_distributed('M→U', 'no_kd', nproc=0)
    assert torchrun_command(3, ['run', '--seed', 1])[-5:] == ['-m', 'augkd.cli', 'run', '--seed', '1']
