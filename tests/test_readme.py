"""The README's 'Adding a dataset' and 'Adding a figure' examples run as written (on a generated tree and database)."""
from pathlib import Path
import pytest
from augkd.data import SETTINGS
from augkd.folders import FOLDER_DATASETS, make_image_tree
from augkd.results import ResultsDB, RUN_FIELDS

README = (Path(__file__).resolve().parents[1]/'README.md').read_text()


def readme_example(test:str) -> str:
    "The first Python block after the README's `tested by tests/test_readme.py::<test>` marker."
    return README.split(f'test_readme.py::{test} -->', 1)[1].split('```python', 1)[1].split('```', 1)[0]


def test_readme_adding_a_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv('AUGKD_DATA', str(tmp_path/'cache'))
    classes = {'dog': 10, 'house': 10}
    root = make_image_tree(tmp_path/'pacs', {d: classes for d in ('photo', 'art_painting', 'cartoon', 'sketch')})
    code = readme_example('test_readme_adding_a_dataset')
    assert "root='~/datasets/pacs'" in code
    env = {}
    try:
        exec(code.replace('~/datasets/pacs', str(root)), env)
        data = env['data']
        assert data.classes == ['dog', 'house'] and str(data.setting) == 'pacs:P,A,C→S'
        assert (len(data.student_train), len(data.student_eval), len(data.student_test)) == (16, 2, 2)
        assert len(data.teacher_train) + len(data.teacher_eval) == 60
    finally:
        FOLDER_DATASETS.pop('pacs', None); SETTINGS.pop('P,A,C→S', None)


def test_readme_adding_a_figure(tmp_path, monkeypatch):
    db = ResultsDB(tmp_path/'runs'/'reproduce'/'results.sqlite')
    for i, (method, seed, acc) in enumerate([('augkd', 0, 90.), ('augkd', 1, 92.), ('no_kd', 0, 85.), ('no_kd', 1, 88.), ('no_kd', 2, 86.)]):
        row = dict.fromkeys(RUN_FIELDS)
        row.update(run_id=f'r{i}', method=method, setting='digits:M,MM,S→U', seed=seed, preset='quick', config='{}', finished_at='now', shots=13)
        db.add(row, {('test', 'acc1'): acc, ('eval', 'acc1'): acc - 1})
    monkeypatch.chdir(tmp_path)
    env = {}
    exec(readme_example('test_readme_adding_a_figure'), env)
    assert (tmp_path/'figures'/'seed_spread.png').stat().st_size > 0 and (tmp_path/'figures'/'seed_spread.svg').exists()
    fig = env['seed_spread'](db.path, 'digits:M,MM,S→U')
    dots = [line.get_ydata().tolist() for line in fig.axes[0].lines]
    assert dots == [[90., 92.], [85., 88., 86.]]


def test_readme_command_line_claims(capsys):
    "The README's error line is what `augkd run` prints, and its Ctrl-C line is the one the grid prints (tests/test_grid_robustness.py sends the signal)."
    import re
    from augkd.cli import main
    quoted = re.search(r"stops in about a second with one line, `([^`]+)`", README).group(1)
    with pytest.raises(SystemExit) as e: main(['run', '--setting', 'M→U', '--method', 'no_kd', '--set', 'epochs=two'])
    assert e.value.code == 2 and quoted in capsys.readouterr().err
    robust = (Path(__file__).parent/'test_grid_robustness.py').read_text()
    assert "prints `interrupted; N cells recorded, re-run to resume`" in README
    assert "interrupted; " in robust and " cells recorded, re-run to resume" in robust
