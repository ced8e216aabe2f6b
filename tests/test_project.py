"""The project's own promises: configuration, the two-command quick start, and the CLI's reproduce job."""
import configparser, subprocess, sys
from pathlib import Path
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_settings_keep_papermill_tags_and_skip_flags():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    d = cfg['DEFAULT']
    assert d['allowed_cell_metadata_keys'].split() == ['tags']
    assert d['tst_flags'].split() == ['notest', 'slow']
    assert d['lib_name'] == 'augkd' and d['min_python'] == '3.11'


def test_nbdev_clean_keeps_the_parameters_tag(tmp_path):
    from nbdev.clean import clean_nb
    from nbdev.config import get_config
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('epochs = 1', metadata={'tags': ['parameters'], 'scrolled': True}, execution_count=3)])
    cfg = get_config(path=ROOT)
    d = nbformat.from_dict(nb)
    clean_nb(d, allowed_cell_metadata_keys=cfg.allowed_cell_metadata_keys.split())
    assert d.cells[0].metadata == {'tags': ['parameters']} and d.cells[0].execution_count is None


def test_readme_quick_start_is_two_commands():
    text = (ROOT/'README.md').read_text()
    block = text.split('## Quick start', 1)[1].split('```sh', 1)[1].split('```', 1)[0]
    assert [l.split('#')[0].strip() for l in block.strip().splitlines()] == ['make reproduce', 'make test']


def test_ci_calls_make_test():
    assert 'make test' in (ROOT/'.ci'/'run').read_text()


def test_notebooks_export_to_every_module():
    mods = {p.stem for p in (ROOT/'augkd').glob('*.py')} - {'__init__', '_modidx'}
    exported = set()
    for nb in (ROOT/'nbs').glob('*.ipynb'):
        src = nbformat.read(nb, as_version=4).cells
        exported |= {l.split()[-1].split('.')[-1] for c in src for l in c.source.splitlines() if l.startswith('#| default_exp')}
    assert mods == exported, 'every module comes from a notebook'


def test_reproduce_writes_gallery_and_shift_matrix(tmp_path):
    out = tmp_path/'figures'
    r = subprocess.run([str(Path(sys.executable).parent/'augkd'), 'reproduce', '--out', str(out), '--probe-epochs', '1', '--no-grid'],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out/'domains.png').stat().st_size > 10_000
    table = (out/'shift_matrix.md').read_text()
    assert table.startswith('| train ↓ / test → | M | U | MM | S') and 'held-out 20%' in table
    again = subprocess.run([str(Path(sys.executable).parent/'augkd'), 'reproduce', '--out', str(out), '--probe-epochs', '1', '--no-grid'],
                           capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert again.returncode == 0 and 'shift matrix: cached' in again.stdout          # a re-run trains no probe
    assert (out/'shift_matrix.md').read_text() == table


def test_reproduce_runs_a_grid_from_the_command_line(tmp_path):
    out, runs = tmp_path/'figures', tmp_path/'runs'
    args = ['reproduce', '--out', str(out), '--runs', str(runs), '--probe-epochs', '1', '--settings', 'M→U', '--methods', 'no_kd',
            '--seeds', '0', '--set', 'epochs=1', '--teacher-set', 'epochs=1', '--jobs', '1']
    r = subprocess.run([str(Path(sys.executable).parent/'augkd'), *args], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '1/1' in r.stdout and '| no_kd |' in (out/'main_table.md').read_text() and (runs/'results.sqlite').exists()
    assert (out/'shift_matrix.md').read_text().startswith('| train ↓ / test →') and (out/'domains.png').exists()   # drawn beside the grid


def test_cli_unknown_command_is_a_clear_error():
    r = subprocess.run([str(Path(sys.executable).parent/'augkd'), 'reproduse'], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "invalid choice: 'reproduse'" in r.stderr


def test_a_killed_grid_resumes_without_duplicates(tmp_path):
    "SIGKILL the whole `augkd reproduce` process group after its first cell is recorded; the restart completes the grid."
    import os, signal, sqlite3
    args = [str(Path(sys.executable).parent/'augkd'), 'reproduce', '--out', str(tmp_path/'figures'), '--runs', str(tmp_path/'runs'),
            '--probe-epochs', '1', '--settings', 'M→U', '--methods', 'no_kd,raw_kd', '--seeds', '0', '--set', 'epochs=1',
            '--teacher-set', 'epochs=1', '--jobs', '1']
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, start_new_session=True)
    try:
        for line in p.stdout:
            if '1/2' in line: break
        os.killpg(p.pid, signal.SIGKILL)
    finally: p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    db = tmp_path/'runs'/'results.sqlite'
    count = lambda: sqlite3.connect(db).execute('select count(*), count(distinct run_id) from runs').fetchone()
    assert count() == (1, 1)
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '2 cells, 1 already in' in r.stdout and count() == (2, 2)
