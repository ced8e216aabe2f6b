"""The reproduction grid: papermill cells into the results database; resume without duplicates; no re-training on a re-run."""
import sqlite3
import pytest
from augkd import reproduce as R
from augkd import grid as G
from augkd.results import ResultsDB


@pytest.fixture(scope='module')
def grid(tmp_path_factory):
    "A tiny grid (2 methods × 2 seeds on M→U, one epoch), of which only the first cell has run: an interrupted grid."
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp('grid')
    mp.setenv('AUGKD_DATA', str(tmp/'cache'))
    mp.delenv('IN_TEST', raising=False)
    cells = R.expand_grid(['M→U'], ['no_kd', 'raw_kd'], [0, 1], changes={'epochs': 1}, teacher_changes={'epochs': 1})
    R.reproduce(cells[:1], tmp/'runs', figures=None)
    yield cells, tmp
    mp.undo()


def test_an_interrupted_grid_completes_without_duplicates(grid):
    cells, tmp = grid
    summary = R.reproduce(cells, tmp/'runs', figures=tmp/'figures', jobs=2)
    assert (summary['cells'], summary['ran']) == (4, 3)
    db = ResultsDB(tmp/'runs'/'results.sqlite')
    runs = db.frame(split='test', metric='acc1')
    assert len(db) == 4 and sorted(runs.run_id) == sorted(c.key for c in cells)
    assert set(runs.method) == {'no_kd', 'raw_kd'} and set(runs.seed) == {0, 1}
    row = db.frame(run_id=cells[0].key, split='test', metric='acc1').iloc[0]
    assert row.split_hash and row.teacher_key and row.version and row.wall_seconds > 0 and row.notebook.endswith('no_kd.ipynb')
    for c in cells: assert (tmp/'runs'/c.group/'notebooks'/f'{c.method}.ipynb').exists()   # the executed notebooks
    for ext in ('md', 'tex', 'csv'): assert (tmp/'figures'/f'main_table.{ext}').exists()
    for ext in ('png', 'svg'): assert (tmp/'figures'/f'main_table.{ext}').stat().st_size > 0
    assert '| no_kd |' in (tmp/'figures'/'main_table.md').read_text()


def test_a_rerun_trains_nothing_and_results_without_a_db_row_are_picked_up(grid, monkeypatch, tmp_path):
    cells, tmp = grid
    R.reproduce(cells, tmp/'runs', figures=None, jobs=2)                              # complete (a no-op when the test above ran first)
    import papermill
    monkeypatch.setattr(papermill, 'execute_notebook', lambda *a, **k: pytest.fail('a finished cell was run again'))
    assert R.reproduce(cells, tmp/'runs', figures=None)['ran'] == 0
    fresh = R.reproduce(cells, tmp/'runs', db=tmp_path/'other.sqlite', figures=None)      # killed after the notebook, before the row
    assert fresh['ran'] == 4 and len(ResultsDB(tmp_path/'other.sqlite')) == 4


def test_relative_folders_with_parallel_jobs(grid, monkeypatch, tmp_path):
    "Regression: with relative folders, one job's kernel must not change the working folder under another's (papermill's cwd did)."
    cells, tmp = grid
    monkeypatch.chdir(tmp_path)
    two_groups = [c for c in cells if c.method == 'no_kd']
    summary = R.reproduce(two_groups, 'runs', figures='figs', jobs=2)
    assert summary['ran'] == 2 and len(ResultsDB(tmp_path/'runs'/'results.sqlite')) == 2
    assert (tmp_path/'figs'/'main_table.md').exists() and all((tmp_path/'runs'/c.group/'result-no_kd.json').exists() for c in two_groups)
    assert R.Path.cwd() == tmp_path


def test_figures_are_drawn_once_per_parameters(grid, monkeypatch, tmp_path):
    cells, tmp = grid
    import papermill
    calls = []
    def fake(nb, out, parameters, **kw):
        calls.append(parameters)
        R.Path(out).write_text('{}'); R.Path(parameters['out_dir']).mkdir(exist_ok=True)
        for k in ('trajectory', 'masks'): (R.Path(parameters['out_dir'])/f'augkd_x_seed0_{k}.png').write_bytes(b'png')
    monkeypatch.setattr(papermill, 'execute_notebook', fake)
    figs = tmp_path/'figs'
    for _ in range(2): R.run_figures(cells[0], tmp_path/'runs', figs)
    assert len(calls) == 1                                                   # the second call found them drawn
    R.run_figures(cells[0], tmp_path/'runs', figs, sensitivity=((0.5,), (0.5,)))
    assert len(calls) == 2                                                   # other parameters: drawn again
    (figs/'augkd_x_seed0_masks.png').unlink()
    R.run_figures(cells[0], tmp_path/'runs', figs, sensitivity=((0.5,), (0.5,)))
    assert len(calls) == 3                                                   # a figure is missing: drawn again


def test_a_failing_cell_is_reported_and_the_grid_goes_on(grid, monkeypatch, tmp_path):
    cells, tmp = grid
    real = R.run_cell
    def flaky(cell, *a, **k):
        if cell.seed == 0: raise RuntimeError('CUDA out of memory')
        return real(cell, *a, **k)
    monkeypatch.setattr(G, 'run_cell', flaky)
    with pytest.raises(RuntimeError, match=r"1 cell\(s\) failed:\n  M→U seed 0 no_kd: RuntimeError: CUDA out of memory\nnot run, after a failure in their group: M→U seed 0 raw_kd"):
        R.reproduce(cells, tmp/'runs', db=tmp_path/'third.sqlite', figures=None)
    assert len(ResultsDB(tmp_path/'third.sqlite')) == 2                                # seed 1's cells were recorded


def test_a_locked_database_is_a_clear_error_and_loses_nothing(grid):
    cells, tmp = grid
    path = tmp/'runs'/'results.sqlite'
    before = len(ResultsDB(path))
    blocker = sqlite3.connect(path); blocker.execute('BEGIN EXCLUSIVE')
    try:
        with pytest.raises(Exception, match='is locked by another process'): ResultsDB(path, timeout=0.1)
    finally: blocker.rollback(); blocker.close()
    assert len(ResultsDB(path)) == before


def test_bad_grids_list_the_valid_names():
    with pytest.raises(ValueError, match='Valid method names'): R.expand_grid(['M→U'], ['augkd', 'mosaic'], [0])
    with pytest.raises(ValueError, match='Valid setting names'): R.expand_grid(['M→Q'], ['augkd'], [0])
    with pytest.raises(ValueError, match='Valid preset names'): R.expand_grid(['M→U'], ['augkd'], [0], preset='full')
