"""The `ray` executor against a Ray instance this test starts on loopback: cells as tasks, a worker that dies mid-cell is retried,
results stream into the driver's database once, the grid resumes, and bad input is a clear error."""
import os, socket, subprocess, sys
from pathlib import Path
import pytest
from augkd.reproduce import expand_grid, reproduce
from augkd.results import ResultsDB

RAY = str(Path(sys.executable).parent/'ray')


def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture(scope='module')
def cluster(env, tmp_path_factory):
    "A one-node Ray cluster on 127.0.0.1 with 2 CPUs; its workers kill themselves once, at the first cell they start."
    marker = tmp_path_factory.mktemp('faults')/'crashed'
    port = free_port()
    penv = {**os.environ, 'AUGKD_CRASH_ONCE': str(marker), 'OMP_NUM_THREADS': '1', 'RAY_USAGE_STATS_ENABLED': '0'}
    subprocess.run([RAY, 'start', '--head', '--node-ip-address=127.0.0.1', f'--port={port}', '--num-cpus=2', '--num-gpus=0',
                    '--include-dashboard=false', '--disable-usage-stats'], check=True, env=penv, capture_output=True)
    yield f'127.0.0.1:{port}', marker
    import ray
    ray.shutdown()
    subprocess.run([RAY, 'stop', '--force'], env=penv, capture_output=True)


def test_grid_on_ray_retries_a_dead_worker_and_records_each_cell_once(cluster, tmp_path, capsys):
    address, marker = cluster
    cells = expand_grid(['M→U'], ['no_kd', 'raw_kd'], [0], 'quick', {'epochs': 1}, {'epochs': 1})
    summary = reproduce(cells, tmp_path/'grid', figures=None, executor='ray', address=address, retries=2)
    out = capsys.readouterr().out
    assert marker.exists() and 'attempt 1 failed' in out and 'retry 1 of 2' in out      # the worker died once and the cell was resubmitted
    assert summary['ran'] == 2
    db = ResultsDB(tmp_path/'grid'/'results.sqlite')
    runs = db.frame(split='test', metric='acc1')
    assert sorted(runs.method) == ['no_kd', 'raw_kd'] and runs.run_id.is_unique
    for c in cells: assert (tmp_path/'grid'/c.group/'notebooks'/f'{c.method}.ipynb').exists()
    again = reproduce(cells, tmp_path/'grid', figures=None, executor='ray', address=address)       # a restarted driver: nothing to run
    assert again['ran'] == 0 and len(db) == 2


def test_ray_bad_input_is_a_clear_error(cluster, tmp_path):
    address, _ = cluster
    cells = expand_grid(['M→U'], ['no_kd'], [0], 'quick', {'epochs': 1}, {'epochs': 1})
    with pytest.raises(ValueError, match=r'asks for 4 GPU\(s\), but the largest node of the Ray cluster has 0'):
        reproduce(cells, tmp_path/'g', figures=None, executor='ray', address=address, cell_gpus=4)
    with pytest.raises(ValueError, match="Valid executor names"): reproduce(cells, tmp_path/'g', executor='slurm')


def test_an_address_that_does_not_answer_is_a_clear_error(tmp_path):
    from augkd.cluster import check_address
    with pytest.raises(ConnectionError, match=r'No Ray cluster answers at 127\.0\.0\.1:9 '): check_address('127.0.0.1:9')
    r = subprocess.run([sys.executable, '-m', 'augkd.cli', 'reproduce', '--settings', 'M→U', '--methods', 'no_kd', '--seeds', '0',
                        '--set', 'epochs=1', '--executor', 'ray', '--address', '127.0.0.1:9', '--runs', str(tmp_path/'g'),
                        '--out', str(tmp_path/'f'), '--epochs', '1'], capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 1 and 'No Ray cluster answers at 127.0.0.1:9' in r.stderr
