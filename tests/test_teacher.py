"""Teacher training and its checkpoint cache."""
import json, shutil, subprocess, sys
from pathlib import Path
import pytest
import torch
from augkd import teacher as T
from augkd.core import CorruptFileError
from augkd.data import load_setting, make_setting

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('AUGKD_DATA', str(tmp_path/'cache'))
    return tmp_path/'cache'


def tiny_teacher(setting='M→U', **kw):
    return T.get_teacher(setting, seed=0, preset='quick', epochs=2, device='cpu', **kw)


def test_teacher_learns_and_reports_the_ood_drop(cache):
    t = tiny_teacher()
    side = json.loads(t.path.with_suffix('.json').read_text())
    assert side['sha256'] == t.sha256 and side['key'] == t.key
    assert t.metrics['teacher_eval']['acc1'] > 60, t.metrics          # two epochs already learn M
    st = t.metrics['student_test']['digits:M→U']
    assert set(st) == {'acc1', 'acc3', 'acc5'} and st['acc1'] < t.metrics['teacher_eval']['acc1']
    assert not t.model.training and not any(p.requires_grad for p in t.model.parameters())


def test_second_request_loads_without_training(cache, monkeypatch):
    first = tiny_teacher()
    monkeypatch.setattr(T, 'train_teacher', lambda *a, **k: pytest.fail('trained again'))
    second = tiny_teacher()
    assert second.from_cache and (second.key, second.sha256) == (first.key, first.sha256)
    # another setting with the same teacher domains reuses it and adds its own student-domain accuracy
    third = tiny_teacher('M→S')
    assert third.key == first.key and 'digits:M→S' in third.metrics['student_test']


def test_key_changes_with_recipe_and_seed(cache):
    data = load_setting('M→U', 0)
    r = T.teacher_recipe('quick')
    keys = {T.teacher_key(data, r, 0), T.teacher_key(data, T.teacher_recipe('quick', lr=1e-3), 0),
            T.teacher_key(data, r, 1), T.teacher_key(load_setting(make_setting('digits', ['M', 'S'], 'U'), 0), r, 0)}
    assert len(keys) == 4


def test_truncated_checkpoint_is_a_clear_error(cache):
    t = tiny_teacher()
    t.path.write_bytes(t.path.read_bytes()[:4096])
    with pytest.raises(CorruptFileError, match=r"is corrupt: its SHA-256 .* does not match .*retrain=True"): tiny_teacher()
    assert tiny_teacher(retrain=True).metrics['teacher_eval']['acc1'] > 60   # and retrain=True recovers


def test_checkpoint_of_another_configuration_is_rejected(cache):
    a = tiny_teacher()
    b = T.get_teacher('M→U', seed=0, preset='quick', epochs=1, device='cpu')
    shutil.copy(a.path, b.path)                              # someone copied the wrong file into place
    side = json.loads(b.path.with_suffix('.json').read_text()); side['sha256'] = a.sha256
    b.path.with_suffix('.json').write_text(json.dumps(side))
    with pytest.raises(T.CheckpointMismatchError, match=f"carries key '{a.key}', not the requested '{b.key}'"):
        T.get_teacher('M→U', seed=0, preset='quick', epochs=1, device='cpu')


def test_interrupted_save_retrains_with_a_warning(cache):
    t = tiny_teacher()
    t.path.with_suffix('.json').unlink()                    # killed between checkpoint and metadata
    with pytest.warns(UserWarning, match='no metadata file'): assert not tiny_teacher().from_cache


def test_warmup_constant_schedule():
    from fastai.callback.core import Callback
    lrs = []
    class Spy(Callback):
        order = 65
        def before_batch(self):
            if self.training: lrs.append(self.opt.hypers[0]['lr'])
    data = load_setting('M→U', 0)
    r = T.teacher_recipe('quick', schedule='warmup_constant', bs=512, lr=0.3)
    learn = T.teacher_learner(data, r, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 10)), 'cpu')
    learn.remove_cbs(learn.cbs.filter(lambda c: isinstance(c, T.ChannelsLastInput)))
    learn.add_cb(Spy())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 0.3)
    assert lrs[:5] == pytest.approx([0.1] * 5) and lrs[5:] == pytest.approx([0.3] * (len(lrs) - 5))


def test_best_epoch_is_restored(cache):
    t = tiny_teacher()
    log = json.loads(t.path.with_suffix('.json').read_text())['train_log']
    accs = [row[log['columns'].index('accuracy')] for row in log['history']]
    assert log['best_epoch'] == max(range(len(accs)), key=accs.__getitem__)
    assert t.metrics['teacher_eval']['acc1'] == pytest.approx(100 * accs[log["best_epoch"]], abs=0.25)


def test_bad_recipe_values_are_clear_errors():
    with pytest.raises(ValueError, match="schedule must be 'warmup_constant' or 'one_cycle'"): T.teacher_recipe('quick', schedule='cosine')
    with pytest.raises(ValueError, match="Valid teacher preset names: paper, quick"): T.teacher_recipe('full')


def test_throughput_bench_prints_a_table():
    r = subprocess.run([sys.executable, str(ROOT/'bench'/'teacher_throughput.py'), '--presets', 'quick', '--steps', '2', '--device', 'cpu'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    row = [l for l in r.stdout.splitlines() if l.startswith('| quick')][0].split('|')
    assert float(row[4].replace(',', '')) > 0 and float(row[5].replace(',', '')) > 0
