"""`augkd distill` end to end on a tiny ImageFolder tree and a tiny saved teacher, and the clear error of each bad input."""
import json, os, subprocess, sys
import pytest
import torch
import torch.nn as nn
from augkd.folders import make_image_tree
from augkd.models import CifarResNet
from augkd.results import ResultsDB
from augkd.teacher import file_sha256

TINY = ['bs=8', 'g_epochs=1', 'iters=1', 'inner_steps=1', 'anchor_epochs=1', 'epochs=1', 'epoch_steps=2', 'val_bank=1',
        'latent_size=8', 'gen_width=8', 'enc_width=8']
TINY_4DS = ['4ds.epochs=1', '4ds.epoch_steps=2', '4ds.bs=8']
NETS = '''import torch.nn as nn
def grey16(): return nn.Sequential(nn.Flatten(), nn.Linear(256, 3))
def no_bn(): return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
'''


@pytest.fixture
def case(tmp_path):
    "A 3-class teacher (a resnet8 state dict) with its class file, a 2-class student folder of random images, and small factories."
    torch.manual_seed(0)
    torch.save(CifarResNet(8, 3).state_dict(), tmp_path/'teacher.pt')
    (tmp_path/'classes.txt').write_text('bird\ncat\ndog\n')
    (tmp_path/'nets.py').write_text(NETS)
    make_image_tree(tmp_path/'mine', {'.': {'cat': 10, 'dog': 10}}, size=24)
    return tmp_path


def distill_cli(tmp, *extra, method='no_kd', teacher='teacher.pt', classes='classes.txt', arch='resnet8'):
    "Run `augkd distill` in a subprocess (tiny budgets, a private data cache); return the completed process."
    args = ['--teacher', str(tmp/teacher), '--teacher-classes', str(tmp/classes), '--data', str(tmp/'mine'), '--method', method,
            '--out', str(tmp/'run'), '--device', 'cpu', '--teacher-arch', arch, *extra, '--set', *TINY, *(TINY_4DS if method.startswith('4ds') else [])]
    env = {**os.environ, 'AUGKD_DATA': str(tmp/'cache'), 'PYTHONPATH': str(tmp)}
    return subprocess.run([sys.executable, '-m', 'augkd.cli', 'distill', *args], capture_output=True, text=True, timeout=600, env=env)


def clear_error(r, *parts):
    "Exit code 1, one message with every part, no traceback."
    return r.returncode == 1 and all(p in r.stderr for p in parts) and 'Traceback' not in r.stderr


@pytest.mark.parametrize('method', ['no_kd', 'augkd', '4ds'])
def test_distill_end_to_end(case, method):
    r = distill_cli(case, method=method)
    assert r.returncode == 0, r.stderr[-3000:]
    run = case/'run'
    res = json.loads((run/f'result-{method}.json').read_text())
    ck = torch.load(run/res['student_file'], weights_only=True)
    assert ck['classes'] == ['cat', 'dog'] and ck['arch'] == 'tiny_mobilenet'
    assert file_sha256(run/res['student_file']) == res['student_sha256']            # the recorded hash is the file's
    assert res['setting'] == 'folder:teacher→mine' and 0 <= res['test']['acc1'] <= 100 and 'teacher_test' in res
    assert (run/f'report-{method}.md').read_text().startswith(f'# {method} on mine, seed 0')
    db = ResultsDB(run/'results.sqlite')
    assert len(db) == 1 and set(db.frame(split='test', metric='acc1').method) == {method}
    assert 'matched by name' in r.stdout and 'student test Acc@1' in r.stdout


def test_distill_class_name_mismatch(case):
    (case/'other.txt').write_text('bird\ncow\nfox\n')
    r = distill_cli(case, classes='other.txt')
    assert clear_error(r, "has classes the teacher does not know: ['cat', 'dog']")
    assert not (case/'run').exists()                                                # stopped before anything trained


def test_distill_missing_class_file(case):
    assert clear_error(distill_cli(case, classes='nope.txt'), 'nope.txt does not exist')


def test_distill_unreadable_image(case):
    (case/'mine'/'cat'/'broken.jpg').write_bytes(b'not an image')
    assert clear_error(distill_cli(case), 'Cannot read image', 'broken.jpg')


def test_distill_wrong_input_size(case):
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(256, 3)).state_dict(), case/'grey16.pt')
    r = distill_cli(case, teacher='grey16.pt', arch='nets:grey16')
    assert clear_error(r, 'fails on a 2×3×32×32 input', '--teacher-size')
    r = distill_cli(case, '--teacher-size', '16', '--teacher-channels', '1', teacher='grey16.pt', arch='nets:grey16')
    assert r.returncode == 0, r.stderr[-2000:]                                      # stated, the convention is adapted
    assert 'grey (BT.601 luma), resized to 16×16' in r.stdout


def test_distill_batchnorm_free_teacher_with_a_bn_method(case):
    sys.path.insert(0, str(case))
    try:
        import nets
        torch.save(nets.no_bn().state_dict(), case/'no_bn.pt')
    finally: sys.path.remove(str(case)); sys.modules.pop('nets', None)
    r = distill_cli(case, method='dfq+', teacher='no_bn.pt', arch='nets:no_bn')
    assert clear_error(r, "Method 'dfq+' matches generated images to the teacher's BatchNorm statistics", 'no_kd')
    assert not (case/'run').exists()


def test_ccexam_teachers_match_the_package_s_own_inference(tmp_path, monkeypatch):
    "The SVHN teacher on M and the USPS teacher on U, through the project's adapter, within a point of the package's own PIL pipeline."
    monkeypatch.setenv('AUGKD_DATA', str(tmp_path))
    from augkd.digits import digit_domain
    from augkd.released import released_teacher, ccexam_accuracy
    from augkd.training import evaluate
    for name, domain in (('ccexam:svhn', 'M'), ('ccexam:usps', 'U')):
        dom = digit_domain(domain)
        ours, theirs = evaluate(released_teacher(name, device='cpu').model, dom)['acc1'], ccexam_accuracy(name, dom)
        print(f"{name} on {domain}: {ours:.1f}% through augkd, {theirs:.1f}% through ccexam's own inference")
        assert abs(ours - theirs) <= 1.0, (name, ours, theirs)


def test_student_weights_reach_the_student_of_every_method_family(case, monkeypatch):
    "With the student's learning rate at 0, `no_kd`, `augkd` and `dfq+` end with the parameters of the weights file they started from."
    monkeypatch.setenv('AUGKD_DATA', str(case/'cache'))
    from augkd.distill import distill
    from augkd.models import build_model
    from augkd.dfkd import dfkd_config
    torch.manual_seed(123)
    start = build_model('tiny_mobilenet', 2)
    torch.save(start.state_dict(), case/'start.pt')
    tiny = {k: int(v) if v.isdigit() else v for k, v in (t.split('=') for t in TINY)}
    for method in ('no_kd', 'augkd', 'dfq+'):
        changes = {**tiny, 's_lr': 0.0, **({'loop.epochs': 1, 'loop.kd_steps': 1, 'loop.bs': 8, 'loop.s_lr': 0.0,
                                               'loop.synth': {'bs': 8, 'width': 8}} if method == 'dfq+' else {})}
        r = distill(case/'teacher.pt', case/'classes.txt', case/'mine', method, teacher_arch='resnet8', student_weights=case/'start.pt',
                    out=case/method, device='cpu', changes=changes)
        end = torch.load(case/method/r['student_file'], weights_only=True)['state_dict']
        names = [n for n, _ in start.named_parameters()]
        assert all(torch.equal(end[n], start.state_dict()[n]) for n in names), method


def test_released_teacher_settings_run_through_the_grid(tmp_path, monkeypatch):
    "A released-teacher setting in `augkd reproduce`: no teacher is trained, its accuracy on the student domain reaches the table's caption."
    monkeypatch.setenv('AUGKD_DATA', str(tmp_path/'cache'))
    monkeypatch.delenv('IN_TEST', raising=False)
    from augkd import reproduce as R
    from augkd.core import data_dir
    from augkd.released import setting_teacher
    cells = R.expand_grid(['ccexam:usps→U'], ['no_kd', 'raw_kd'], [0], changes={'epochs': 1}, shots=[5])
    R.reproduce(cells, tmp_path/'runs', figures=tmp_path/'figs')
    teacher = setting_teacher('ccexam:usps→U', device='cpu')
    rows = ResultsDB(tmp_path/'runs'/'results.sqlite').frame()
    assert set(rows.method) == {'no_kd', 'raw_kd'} and set(rows.teacher_key) == {teacher.key}
    assert not list(data_dir('teachers').glob('*.pt'))                        # nothing trained
    acc = teacher.metrics['student_test']['digits:ccexam:usps→U']['acc1']
    caption = (tmp_path/'figs'/'main_table.md').read_text().splitlines()[0]
    assert f"{acc:.1f}" in caption and 'ccexam:usps→U' in (tmp_path/'figs'/'main_table.md').read_text(), caption


def test_imagenet_student_weights_come_from_the_package(case, monkeypatch):
    "`--student efficientnet_lite0 --student-weights imagenet`: the packaged ImageNet body is the student's start (learning rate 0), its head is new."
    monkeypatch.setenv('AUGKD_DATA', str(case/'cache'))
    from augkd.distill import distill
    from augkd.models import packaged_weights, read_state_dict
    tiny = {k: int(v) if v.isdigit() else v for k, v in (t.split('=') for t in TINY)}
    r = distill(case/'teacher.pt', case/'classes.txt', case/'mine', 'no_kd', teacher_arch='resnet8', student='efficientnet_lite0',
                student_weights='imagenet', out=case/'lite', device='cpu', changes={**tiny, 's_lr': 0.0})
    end, imagenet = torch.load(case/'lite'/r['student_file'], weights_only=True)['state_dict'], read_state_dict(packaged_weights('efficientnet_lite0'))
    assert torch.equal(end['net._conv_stem.weight'], imagenet['_conv_stem.weight']) and end['net._fc.weight'].shape == (2, 1280)
    assert r['config']['student_weights'] == 'imagenet'
