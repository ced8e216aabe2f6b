"""Every experiment notebook runs under papermill with its smoke parameters and leaves its outputs."""
from pathlib import Path
import papermill as pm
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1]/'nbs'/'experiments'


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv('IN_TEST', raising=False)               # an earlier nbdev test in this worker may have set it
    monkeypatch.setenv('AUGKD_DATA', str(tmp_path/'cache'))
    return tmp_path


def run(name, out, **params):
    return pm.execute_notebook(EXPERIMENTS/name, out/name, parameters=params, kernel_name='python3', progress_bar=False, cwd=str(EXPERIMENTS))


def test_parameters_cells_are_tagged():
    for nb in EXPERIMENTS.glob('*.ipynb'):
        assert pm.inspect_notebook(nb), f"{nb.name} has no cell tagged 'parameters'"


def test_run_cell_writes_its_result(clean_env):
    nb = run('run_cell.ipynb', clean_env, run_dir=str(clean_env/'run'), method='raw_kd')
    assert nb.metadata.papermill.parameters['method'] == 'raw_kd' and (clean_env/'run'/'result-raw_kd.json').exists()


def test_augkd_figures_draws_every_figure(clean_env):
    run('augkd_figures.ipynb', clean_env, out_dir=str(clean_env/'figs'), projection='pca', n_points=40, a_values='[0.5]', b_values='[0.5]')
    names = {p.name for p in (clean_env/'figs').iterdir()}
    for fig in ('trajectory', 'masks', 'features', 'sensitivity'):
        assert {f'augkd_M-to-U_seed0_{fig}.png', f'augkd_M-to-U_seed0_{fig}.svg'} <= names, names
