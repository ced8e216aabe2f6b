"""Acceptance tests of the data layer: determinism, persisted splits, folder datasets and every bad-input error."""
import json, warnings
from pathlib import Path
import numpy as np
import pytest
import torch
from augkd import core, digits, domains, folders
from augkd.core import CorruptFileError, UnknownNameError
from augkd.data import get_setting, load_setting, persisted_split, benchmark_domains, make_setting
from augkd.digits import digit_domain, DIGIT_DOMAINS
from augkd.folders import ClassMismatchError, UnreadableImageError, make_image_tree


@pytest.fixture
def cache(tmp_path, monkeypatch):
    "A private, empty data cache."
    monkeypatch.setenv('AUGKD_DATA', str(tmp_path/'cache'))
    return tmp_path/'cache'


@pytest.mark.parametrize('name,opts', [('M', {}), ('M', {'part': 'b'}), ('U', {}), ('MM', {'part': 'b'}), ('S', {'n': 400}), ('H', {'n': 200})])
def test_builds_are_deterministic(name, opts):
    if (why := digits.digit_domain_info(name).missing()): pytest.skip(why)
    a, b = (digit_domain(name, cache=False, **opts) for _ in range(2))
    assert a.digest == b.digest and len(a) > 0
    assert a.x.shape[1:] == (3, 32, 32) and a.x.dtype == torch.uint8


def test_build_seed_changes_random_domains():
    assert digit_domain('S', seed=0, cache=False, n=50).digest != digit_domain('S', seed=1, cache=False, n=50).digest


def test_k_shot_train_sets_are_nested_with_fixed_eval_and_test():
    "The paper's regime: K labelled images per class; eval and test do not move with K; K-shot sets nest; seeds differ."
    full, k13, k5 = (load_setting('M,MM,S→U', seed=0, shots=k) for k in (None, 13, 5))
    assert len(k13.student_train) == 130 and torch.equal(k13.student_train.counts(), torch.full((10,), 13))
    for part in ('student_eval', 'student_test'): assert getattr(k13, part).digest == getattr(full, part).digest
    rows = lambda d: {tuple(r) for r in d.student_train.x.flatten(1).tolist()}
    assert rows(k5) <= rows(k13) <= rows(full)
    assert rows(load_setting('M,MM,S→U', seed=1, shots=13)) != rows(k13)
    with pytest.raises(ValueError, match=r"shots=500 needs 500 labelled images of every class.*has only \d+ of class '0'"):
        load_setting('M,MM,S→U', seed=0, shots=500)
    with pytest.raises(ValueError, match='at least 1'): load_setting('M,MM,S→U', seed=0, shots=0)

def test_mnist_halves_are_disjoint_in_shared_settings():
    s = load_setting('M,U,S→MM', seed=0)
    assert s.setting.student == 'MM'
    m, mm = digits.mnist_halves()['a'], digits.mnist_halves()['b']
    assert not set(m) & set(mm)
    assert len(s.teacher_train) + len(s.teacher_eval) == 2500 + 1797 + 6000   # M uses its half only


def test_split_files_identical_for_a_seed_and_different_across_seeds(tmp_path, monkeypatch):
    texts = {}
    for run in ('first', 'second'):
        monkeypatch.setenv('AUGKD_DATA', str(tmp_path/run))
        for seed in (0, 1):
            data = load_setting('M→U', seed=seed)
            texts[run, seed] = [f.read_bytes() for f in data.split_files]
    assert texts['first', 0] == texts['second', 0] and texts['first', 1] == texts['second', 1]
    assert texts['first', 0] != texts['first', 1]


def test_splits_partition_the_domain(cache):
    u = digit_domain('U')
    idx, path = persisted_split('digits', u, 'student-80-10-10', 3)
    assert sorted(np.concatenate(list(idx.values())).tolist()) == list(range(len(u)))
    assert [len(idx[k]) for k in ('train', 'eval', 'test')] == [1437, 179, 181]
    rec = json.loads(path.read_text())
    assert rec['classes'] == digits.DIGIT_CLASSES and rec['domain_digest'] == u.digest and rec['seed'] == 3


def test_every_method_sees_the_same_split_whatever_the_global_rng():
    torch.manual_seed(1); np.random.seed(1); a = load_setting('M→S', seed=2)
    torch.manual_seed(9); np.random.seed(9); b = load_setting('M→S', seed=2)
    assert a.split_hash == b.split_hash and torch.equal(a.student_test.y, b.student_test.y)


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match="Valid digit domain names: fashion_mnist, handfont, mnist5k"): digit_domain('svhn')
    with pytest.raises(UnknownNameError, match="Valid setting names: .*M,U,MM→S"): get_setting('M,U→SVHN')
    with pytest.raises(UnknownNameError, match="Valid dataset names: office31, officehome, visda"): make_setting('office', ['A'], 'D')


def test_optional_domain_skipped_with_install_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(digits, 'FONT_ROOT', tmp_path/'no-fonts')
    with pytest.raises(FileNotFoundError, match="apt-get install fonts-dkg-handwriting"): digit_domain('H')
    assert set(benchmark_domains()) == {'M', 'U', 'MM', 'S'}
    assert 'Skipping handfont (H)' in capsys.readouterr().out


def test_interrupted_cache_build_leaves_nothing_to_trust(cache, monkeypatch):
    real_savez = np.savez
    def crash_midway(f, **arrays):
        f.write(b'PK\x03\x04 half an npz'); raise KeyboardInterrupt   # killed while writing
    monkeypatch.setattr(np, 'savez', crash_midway)
    with pytest.raises(KeyboardInterrupt): digit_domain('U')
    assert not list((cache/'digits').glob('*.npz')), 'a half-written cache file was left under its real name'
    monkeypatch.setattr(np, 'savez', real_savez)
    assert len(digit_domain('U')) == 1797 and len(list((cache/'digits').glob('*.npz'))) == 1


def test_corrupt_cache_file_is_rebuilt(cache):
    u = digit_domain('U')
    f, = (cache/'digits').glob('*.npz')
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.warns(UserWarning, match='Rebuilding'): v = digit_domain('U')
    assert v.digest == u.digest
    with pytest.raises(CorruptFileError): f.write_bytes(b'junk'); core.load_arrays(f)


# ---- datasets on disk -------------------------------------------------------------------------------------------

def office31_tree(root, missing_in_dslr='mug'):
    classes = ['back_pack', 'bike', 'mug']
    spec = {f'{d}/images': {c: 10 for c in classes if not (d == 'dslr' and c == missing_in_dslr)} for d in ('amazon', 'dslr', 'webcam')}
    return make_image_tree(root/'office31', spec)


def test_office31_setting_keeps_label_indices_when_a_class_is_missing(tmp_path, cache):
    root = office31_tree(tmp_path, missing_in_dslr='bike')
    with pytest.warns(UserWarning, match="no images of 1 classes \\['bike'\\]"):
        data = load_setting('A,W→D', seed=0, root=root)
    assert data.classes == ['back_pack', 'bike', 'mug']
    assert set(torch.cat([data.student_train.y, data.student_eval.y, data.student_test.y]).tolist()) == {0, 2}
    assert [len(data.student_train), len(data.student_eval), len(data.student_test)] == [16, 2, 2]
    assert len(data.teacher_train) == 2 * 24 and len(data.teacher_eval) == 2 * 6


def test_missing_dataset_root_names_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Office-31 root .*nowhere does not exist\. Expected layout: <root>/<domain>/images/<class>"):
        load_setting('A,W→D', root=tmp_path/'nowhere')
    with pytest.raises(ValueError, match="pass root=<dataset root>"): load_setting('A,W→D')


def test_wrong_layout_names_where_it_looked(tmp_path):
    make_image_tree(tmp_path/'flat', {'amazon': {'bike': 1}})   # images/ level missing
    with pytest.raises(FileNotFoundError, match=r"domain 'A' not found: looked for .*amazon/images"):
        load_setting('A,W→D', root=tmp_path/'flat')


def test_class_folder_mismatch_lists_differences(tmp_path, cache):
    root = office31_tree(tmp_path)
    make_image_tree(root, {'dslr/images': {'bicycle': 2}})   # a folder outside the teacher domains' class list
    with pytest.raises(ClassMismatchError, match=r"Folders not in the class list: \['bicycle'\]"):
        load_setting('A,W→D', root=root)


def test_unreadable_image_names_the_file(tmp_path, cache):
    root = office31_tree(tmp_path)
    bad = root/'dslr'/'images'/'bike'/'3.jpg'
    bad.write_bytes(b'\x00not an image')
    with pytest.raises(UnreadableImageError, match=f"Cannot read image {bad}"): load_setting('A,W→D', root=root)


def test_officehome_real_world_variants(tmp_path, cache):
    spec = {d: {'Alarm_Clock': 5, 'Bike': 5} for d in ('Art', 'Clipart', 'Product', 'Real_World')}
    root = make_image_tree(tmp_path/'home', spec)
    data = load_setting('A,C,P→R', root=root)
    assert data.student_train.name.startswith('officehome/R') and len(data.classes) == 2


def test_visda_test_split_from_image_list(tmp_path, cache):
    root = make_image_tree(tmp_path/'visda', {s: {'aeroplane': 6, 'bicycle': 6} for s in ('train', 'validation')})
    test = root/'test'; make_image_tree(test, {'imgs': {'a': 3}})
    (test/'image_list.txt').write_text(''.join(f'imgs/a/{i}.jpg {i % 2}\n' for i in range(3)))
    data = load_setting('train→val', root=root)
    assert len(data.student_test) == 3 and data.student_test.y.tolist() == [0, 1, 0]
    assert [len(data.student_train), len(data.student_eval)] == [9, 3]   # VisDA: val split 80/20
    (test/'image_list.txt').write_text('imgs/a/0.jpg 7\n')
    with pytest.raises(ValueError, match=r"image_list.txt, line 1: label 7 is outside \[0, 2\)"): load_setting('train→val', root=root)


def test_folder_cache_notices_changed_files(tmp_path, cache):
    root = make_image_tree(tmp_path/'t', {'d': {'a': 3, 'b': 3}})
    first = folders.folder_domain(root/'d')
    make_image_tree(tmp_path/'t', {'d': {'a': 4}}, seed=5)   # new and rewritten files
    second = folders.folder_domain(root/'d')
    assert len(second) == 7 and second.digest != first.digest


def test_fashion_mnist_pool_or_clear_skip(tmp_path, monkeypatch):
    if why := DIGIT_DOMAINS['fashion_mnist'].missing():
        with pytest.raises(FileNotFoundError, match='apt-get install dataset-fashion-mnist'): digit_domain('F')
    else:
        f = digit_domain('F')
        assert len(f) == 70000 and f.classes == digits.FASHION_CLASSES and f.counts().tolist() == [7000] * 10
    monkeypatch.setattr(digits, 'FASHION_DIR', tmp_path)
    with pytest.raises(FileNotFoundError, match=f"not found in {tmp_path}; install them with: apt-get install dataset-fashion-mnist"):
        digits.build_fashion_mnist(folder=tmp_path)
    assert 'apt-get install dataset-fashion-mnist' in digits.DIGIT_DOMAINS['fashion_mnist'].missing()
