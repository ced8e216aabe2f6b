"""The grid driver when things go wrong: Ctrl-C, a results database replaced or locked by another process mid-run, and the ETA."""
import io, json, os, signal, sqlite3, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest
from augkd import grid as G
from augkd import reproduce as R
from augkd.results import ResultsDB

TINY = dict(changes={'epochs': 1}, teacher_changes={'epochs': 1})     # the tiny cells of tests/test_reproduce.py


@pytest.fixture
def fake_cells(monkeypatch):
    "Cells without kernels or teachers: papermill's stand-in writes a result file as `finish_run` does, after 0.3 s; returns the calls."
    import papermill
    calls = []
    def execute(nb, out, parameters, **kw):
        calls.append(f"{parameters['setting']} seed {parameters['seed']} {parameters['method']}")
        time.sleep(0.3)
        res = {'method': parameters['method'], 'setting': 'digits:' + parameters['setting'], 'seed': parameters['seed'], 'shots': None,
               'eval': {'acc1': 50.0}, 'test': {'acc1': 40.0 + parameters['seed']}, 'seconds': {'stage3': 0.01}, 'config': {'epochs': 1},
               'teacher_key': 'teacher', 'split_hash': 'split', 'device': 'cpu', 'synth_images': 0}
        (Path(parameters['run_dir'])/f"result-{parameters['method']}.json").write_text(json.dumps(res))
        Path(out).write_text('{}')
    monkeypatch.setattr(papermill, 'execute_notebook', execute)
    monkeypatch.setattr(G, 'prepare_teachers', lambda *a, **k: None)
    return calls


def test_a_reimported_row_is_the_row_written_when_the_cell_ran(fake_cells, tmp_path):
    cells = R.expand_grid(['M→U'], ['no_kd', 'raw_kd'], [0], **TINY)
    R.reproduce(cells, tmp_path/'runs', figures=None, file=io.StringIO())
    time.sleep(1.1)                                                        # a re-import stamped with its own time would show it
    progress = io.StringIO()
    R.reproduce(cells, tmp_path/'runs', db=tmp_path/'new.sqlite', figures=None, file=progress)   # the database replaced
    assert len(fake_cells) == 2                                            # picked up from the result files, not run again
    direct, again = ResultsDB(tmp_path/'runs'/'results.sqlite').frame(), ResultsDB(tmp_path/'new.sqlite').frame()
    assert len(direct) == 4 and (direct.wall_seconds >= 0.3).all()
    pd.testing.assert_frame_equal(direct, again)                           # field by field: wall_seconds, finished_at, version, ...
    assert 'ETA ?' in progress.getvalue() and 'ETA 0:00:00' not in progress.getvalue()    # picked-up cells took no time: no ETA from them


def test_a_database_locked_mid_run_is_waited_for_then_the_grid_stops_after_the_cell(fake_cells, tmp_path, monkeypatch):
    from augkd.results import ResultsDBLocked
    cells = R.expand_grid(['M→U'], ['no_kd', 'raw_kd'], [0, 1], **TINY)     # two groups of two cells
    db, blocker, real = tmp_path/'runs'/'results.sqlite', [], G.run_cell
    def lock_during_first(c, *a, **k):                                    # another process takes the database while the first cell runs
        if not blocker: blocker.append(sqlite3.connect(db, check_same_thread=False)); blocker[0].execute('BEGIN EXCLUSIVE')
        return real(c, *a, **k)
    monkeypatch.setattr(G, 'run_cell', lock_during_first)
    progress = io.StringIO()
    try:
        with pytest.raises(ResultsDBLocked, match=r"The grid stopped after the cells that were running; 1 finished cell\(s\) \(M→U seed 0 no_kd\) keep their result files"):
            R.reproduce(cells, tmp_path/'runs', figures=None, file=progress, db_wait=2)
    finally: blocker[0].rollback(); blocker[0].close()
    assert f"The results database {db} is locked by another process; waiting for it (up to 2 s)..." in progress.getvalue()
    assert fake_cells == ['M→U seed 0 no_kd']                               # no other cell started, in this group or the other
    assert 'cell' in json.loads((tmp_path/'runs'/cells[0].group/'result-no_kd.json').read_text())   # the finished cell's result is kept
    assert R.reproduce(cells, tmp_path/'runs', figures=None, file=io.StringIO())['ran'] == 4
    assert len(fake_cells) == 4                                            # the first cell was picked up, the three others ran
    runs = ResultsDB(db).frame(split='test', metric='acc1')
    assert sorted(runs.run_id) == sorted(c.key for c in cells) and runs.run_id.is_unique


def test_the_eta_comes_from_the_cells_that_ran():
    buf = io.StringIO()
    p = G.GridProgress(10, done=2, jobs=2, file=buf)
    p.t0 -= 600                                                             # the teacher took ten minutes before the first cell
    p.step('M→U seed 0 no_kd: picked up from its result file')
    p.step('M→U seed 1 no_kd: ran', seconds=60)
    p.step('M→U seed 0 raw_kd: ran', seconds=120)
    lines = buf.getvalue().splitlines()
    assert '0:10:00 elapsed, ETA ?' in lines[0], lines[0]                  # nothing ran yet: no guess
    assert 'ETA 0:03:00' in lines[1], lines[1]                             # 60 s × 6 cells left / 2 jobs
    assert 'ETA 0:03:45' in lines[2], lines[2]                             # 90 s × 5 / 2


def _children(pid:int) -> list:
    "The processes whose parent is `pid`."
    kids = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try: fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError: continue
        if int(fields[1]) == pid: kids.append(int(stat.parent.name))
    return kids

def _alive(pid:int) -> bool:
    try: return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError: return False


def test_one_ctrl_c_stops_the_grid_within_seconds_and_a_rerun_completes_it(tmp_path, monkeypatch):
    "A real tiny grid in a subprocess: (no_kd, raw_kd) on seed 0, then no_kd on seed 1; one SIGINT while seed 0's no_kd kernel runs."
    out = tmp_path/'runs'
    env = {**{k: v for k, v in os.environ.items() if k != 'IN_TEST'}, 'AUGKD_DATA': str(tmp_path/'cache'), 'OMP_NUM_THREADS': '1'}
    grid = "R.expand_grid(['M→U'], ['no_kd', 'raw_kd'], [0], **T) + R.expand_grid(['M→U'], ['no_kd'], [1], **T)"
    driver = f"from augkd import reproduce as R; T = {TINY!r}; R.reproduce({grid}, {str(out)!r}, figures=None, jobs=1)"
    p = subprocess.Popen([sys.executable, '-c', driver], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))     # as in a terminal, whatever runs this test
    kernels = []
    try:
        deadline = time.time() + 300
        while not kernels and p.poll() is None and time.time() < deadline:           # the teacher trains, then the first cell's kernel starts
            nbs = list(out.glob('*/M→U-seed0/notebooks/no_kd.ipynb'))
            if nbs and '"status": "running"' in nbs[0].read_text(): kernels = _children(p.pid)
            time.sleep(0.2)
        assert kernels, f"the first cell's kernel did not start: {p.poll()}"
        t0 = time.time(); p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
        seconds = time.time() - t0
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)
        for k in kernels:
            if _alive(k): os.kill(k, signal.SIGKILL)
    assert p.returncode == 130 and seconds < 20, (p.returncode, seconds, stderr[-2000:])
    assert stderr.strip().splitlines()[-1] == 'interrupted; 0 cells recorded, re-run to resume' and 'Traceback' not in stderr, stderr
    assert 'stopping: no new cell starts' in stdout
    time.sleep(0.5)
    assert not [k for k in kernels if _alive(k)]                            # the running kernel was stopped
    assert [p.name for p in out.glob('*/*/notebooks/*')] == ['no_kd.ipynb']   # no other cell started, in this group or the other
    monkeypatch.setenv('AUGKD_DATA', str(tmp_path/'cache')); monkeypatch.delenv('IN_TEST', raising=False)
    cells = R.expand_grid(['M→U'], ['no_kd', 'raw_kd'], [0], **TINY) + R.expand_grid(['M→U'], ['no_kd'], [1], **TINY)
    assert R.reproduce(cells, out, figures=None, file=io.StringIO())['ran'] == 3
    runs = ResultsDB(out/'results.sqlite').frame(split='test', metric='acc1')
    assert sorted(runs.run_id) == sorted(c.key for c in cells) and runs.run_id.is_unique
