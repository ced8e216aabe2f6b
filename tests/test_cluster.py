"""The `ray` executor against a Ray instance this test starts on loopback: cells as tasks, a worker that dies mid-cell is retried,
results stream into the driver's database once, the grid resumes, and bad input is a clear error."""
import os, subprocess, sys
from pathlib import Path
import pytest
from augkd.reproduce import expand_grid, reproduce
from augkd.results import ResultsDB

pytestmark = pytest.mark.xdist_group('ray')      # one Ray instance for the module: its tests share one pytest worker


@pytest.fixture(scope='module')
def cluster(env, tmp_path_factory):
    "A one-node Ray instance on 127.0.0.1 with 2 CPUs, started by this process; its workers kill themselves once, at the first cell they start."
    import ray
    marker = tmp_path_factory.mktemp('faults')/'crashed'
    mp = pytest.MonkeyPatch()
    for k, v in {'AUGKD_CRASH_ONCE': str(marker), 'OMP_NUM_THREADS': '1', 'RAY_USAGE_STATS_ENABLED': '0'}.items(): mp.setenv(k, v)  # the workers inherit them
    ray.init(_node_ip_address='127.0.0.1', num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, logging_level='ERROR')
    yield ray.get_runtime_context().gcs_address, marker
    ray.shutdown()
    mp.undo()


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
                        '--out', str(tmp_path/'f'), '--probe-epochs', '1'], capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 1 and 'No Ray cluster answers at 127.0.0.1:9' in r.stderr


def test_a_killed_driver_resumes_the_grid_on_ray(cluster, tmp_path):
    "SIGKILL the `augkd reproduce --executor ray` driver once a cell is recorded; a new driver runs only the rest, and no row is doubled."
    import signal, sqlite3, time
    address, _ = cluster
    cmd = [sys.executable, '-m', 'augkd.cli', 'reproduce', '--settings', 'M→U', '--methods', 'no_kd,raw_kd', '--seeds', '0', '--set', 'epochs=1',
           '--teacher-set', 'epochs=1', '--executor', 'ray', '--address', address, '--runs', str(tmp_path/'g'), '--out', str(tmp_path/'f'), '--probe-epochs', '1']
    penv = {**os.environ, 'OMP_NUM_THREADS': '1'}
    db = tmp_path/'g'/'results.sqlite'
    rows = lambda: sqlite3.connect(db).execute('SELECT run_id FROM runs').fetchall() if db.exists() else []
    p = subprocess.Popen(cmd, env=penv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while len(rows()) < 1 and p.poll() is None and time.time() - t0 < 600: time.sleep(0.5)
    assert p.poll() is None and len(rows()) == 1, 'the driver should be killed after its first cell and before its second'
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    r = subprocess.run(cmd, env=penv, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '2 cells, 1 already in' in r.stdout
    ids = [i for (i,) in rows()]
    assert len(ids) == 2 and len(set(ids)) == 2
