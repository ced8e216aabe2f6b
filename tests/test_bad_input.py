"""Bad or unusual input from the issue's table: a 3-class ImageFolder tree (row 3), a truncated teacher sidecar (row 8),
a student domain missing a class (row 9), and teacher training that reports its epochs (row 11). Tiny data: seconds on CPU."""
import warnings
import pytest
from augkd.core import CorruptFileError
from augkd.data import load_setting
from augkd.folders import make_image_tree
from augkd.teacher import get_teacher, train_teacher, teacher_recipe
from augkd.training import evaluate

CLASSES = ('bike', 'cup', 'phone')
FOLDERS = {'A': 'amazon', 'W': 'webcam', 'D': 'dslr'}


def office31_tree(root, n=6, student_lacks=()):
    "An Office-31-shaped tree of 3 classes; the student domain D without the classes `student_lacks`."
    return make_image_tree(root, {f'{d}/images': {c: n for c in CLASSES if not (d == 'dslr' and c in student_lacks)}
                                  for d in FOLDERS.values()}, size=32)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('AUGKD_DATA', str(tmp_path/'cache'))
    return tmp_path/'cache'


def tiny_teacher(root, **kw):
    return get_teacher('A,W→D', seed=0, preset='quick', root=root, epochs=1, bs=16, device='cpu', **kw)


def test_three_classes_train_and_evaluate(cache, tmp_path, capsys):
    "Row 3: Acc@3/Acc@5 with 3 classes are Acc@3 (k capped at the class count); row 11: one progress line per teacher epoch."
    data = load_setting('A,W→D', 0, root=office31_tree(tmp_path/'o31'))
    model, log = train_teacher(data, teacher_recipe('quick', epochs=2, bs=16), device='cpu')
    assert log['columns'] == ['train_loss', 'valid_loss', 'accuracy', 'acc3', 'acc5']
    acc = evaluate(model, data.student_test)
    assert set(acc) == {'acc1', 'acc3', 'acc5'} and acc['acc3'] == acc['acc5'] == 100.0    # 3 classes: every label is in the top 3
    lines = [l for l in capsys.readouterr().out.splitlines() if 'epoch' in l]
    assert len(lines) == 2 and 'epoch 1/2' in lines[0] and 'epoch 2/2' in lines[1], lines    # not a notebook or a terminal: a line per epoch
    assert lines[0].startswith('teacher') and 'train_loss' in lines[0] and 'accuracy' in lines[0] and '\r' not in lines[0]


def test_truncated_teacher_sidecar_is_named(cache, tmp_path):
    "Row 8: a truncated sidecar is an error that names the file, says what is wrong and how to train the teacher again."
    root = office31_tree(tmp_path/'o31')
    t = tiny_teacher(root)
    side = t.path.with_suffix('.json')
    side.write_text(side.read_text()[:300])
    with pytest.raises(CorruptFileError) as e: tiny_teacher(root)
    msg = str(e.value)
    assert str(side) in msg and 'not valid JSON' in msg and 'truncated' in msg and '--retrain-teacher' in msg, msg
    assert tiny_teacher(root, retrain=True).sha256               # retraining rewrites it
    assert tiny_teacher(root).from_cache


def test_student_domain_missing_a_class_warns_once(cache, tmp_path):
    "Row 9: one warning, with plain class names, also when the domain comes from the cache."
    root = office31_tree(tmp_path/'o31', student_lacks=('phone',))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); load_setting('A,W→D', 0, root=root)       # builds the cache
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        data = load_setting('A,W→D', 0, root=root)
    said = [str(x.message) for x in w if 'phone' in str(x.message)]
    assert len(said) == 1, said
    assert "['phone']" in said[0] and 'np.str_' not in said[0] and 'keep their label indices' in said[0]
    assert type(data.classes[0]) is str and data.classes == list(CLASSES)


def test_check_every_class_names_method_and_classes(cache, tmp_path):
    "Row 9: the hook a method that conditions on every class calls: its name and the missing classes, as plain strings."
    from augkd.data import check_every_class
    root = office31_tree(tmp_path/'o31', student_lacks=('phone',))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for _ in range(2): data = load_setting('A,W→D', 0, root=root)             # the second load reads the cache
    with pytest.raises(ValueError) as e: check_every_class(data, 'augkd', 'it conditions its encoder E and anchor A on every class')
    msg = str(e.value)
    assert "Method 'augkd'" in msg and "['phone']" in msg and 'np.str_' not in msg and 'no_kd' in msg, msg
    check_every_class(load_setting('A,W→D', 0, root=office31_tree(tmp_path/'full')), 'augkd', 'why')   # every class: no error


def test_no_kd_trains_without_a_class(cache, tmp_path):
    "Row 9: `no_kd` does not need every class: it trains, and the other classes keep their indices."
    from augkd.config import augkd_config
    from augkd.methods import get_method
    root = office31_tree(tmp_path/'o31', student_lacks=('phone',))
    data, t = load_setting('A,W→D', 0, root=root), tiny_teacher(root)
    res = get_method('no_kd', augkd_config('quick', epochs=1, bs=8)).fit(data, t, tmp_path/'run', device='cpu')
    assert res['test']['acc1'] >= 0 and data.classes == list(CLASSES)


def test_augkd_refuses_a_missing_class_by_name(cache, tmp_path):
    "Row 9: AuG-KD refuses, naming itself and the class."
    from augkd.config import augkd_config
    from augkd.methods import get_method
    root = office31_tree(tmp_path/'o31', student_lacks=('phone',))
    data, t = load_setting('A,W→D', 0, root=root), tiny_teacher(root)
    with pytest.raises(ValueError) as e: get_method('augkd', augkd_config('quick')).fit(data, t, tmp_path/'run', device='cpu')
    assert "Method 'augkd'" in str(e.value) and "['phone']" in str(e.value)
