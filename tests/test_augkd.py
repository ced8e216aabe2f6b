"""AuG-KD: switches, stage mechanics, resuming and bad input, on tiny CPU configurations."""
import copy, warnings
from pathlib import Path
import pytest
import torch
import torch.nn as nn
from fastai.callback.core import Callback
from augkd import stages as A
from augkd.core import seed_everything
from augkd.config import augkd_config
from augkd.training import DeviceSmoothLoss
from augkd.methods import get_method
from augkd.data import load_setting, make_setting
from augkd.teacher import get_teacher
from augkd.losses import stage_factor
from conftest import FirstLosses

TINY = dict(bs=32, g_epochs=2, iters=2, inner_steps=2, anchor_epochs=2, epochs=3, val_bank=1, latent_size=16, gen_width=16, enc_width=16)


def tiny(**kw): return augkd_config('quick', **{**TINY, **kw})


def params(m): return [p.detach().clone() for p in m.parameters()]
def changed(before, m): return any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))


def test_full_run_trains_each_network_in_its_stage_only(env, tmp_path):
    data, teacher = env
    method = A.AugKD(tiny())
    nets = method.networks(len(data.classes))
    t0 = params(teacher.model)
    snaps = {k: params(v) for k, v in nets.items()}
    log1 = method.stage1(data, teacher, nets, 'cpu')
    assert all(changed(snaps[k], nets[k]) for k in ('gen', 'enc', 'student')) and not changed(snaps['anchor'], nets['anchor'])
    assert all(log1['epochs'][-1][k] != 0 for k in ('adv', 'ce', 'balance', 'bn'))      # every generator term is active
    assert all(0 <= e['teacher_domain_acc1'] <= 100 for e in log1['epochs']) and log1['steps'] == 2 * 2 * 2   # stage 1's measure, logged
    snaps = {k: params(v) for k, v in nets.items()}
    log2 = method.stage2(data, teacher, nets, 'cpu')
    assert changed(snaps['anchor'], nets['anchor'])
    for e in log2['epochs']: assert 0 <= e['anchor_teacher_acc1'] <= 100 and 0.1 <= e['anchor_top_class_share'] <= 1  # 10 classes
    assert not any(changed(snaps[k], nets[k]) for k in ('gen', 'enc', 'student')) and not changed(t0, teacher.model)
    assert not teacher.model.training


class Spy(Callback):
    "Records what the student is fed and whether the teacher is called during stage 3's training batches."
    order = 90
    def __init__(self, teacher): self.teacher, self.inputs, self.teacher_calls = teacher, [], 0
    def before_fit(self):
        self.h = self.teacher.register_forward_hook(lambda *a: setattr(self, 'teacher_calls', self.teacher_calls + 1))
    def after_pred(self):
        if self.training: self.inputs.append(self.xb[0].detach().clone())
    def after_fit(self): self.h.remove()


def run_stage3(data, teacher, cfg, monkeypatch=None):
    spy = Spy(teacher.model)
    method = A.AugKD(cfg)
    nets = method.networks(len(data.classes))
    log = method.stage3(data, teacher, nets, 'cpu', cbs=[spy])
    return spy, log


def test_stage3_kd_target_is_the_teacher_by_default(env, monkeypatch):
    data, teacher = env
    spy, _ = run_stage3(data, teacher, tiny(), monkeypatch)
    assert spy.teacher_calls > 0


def test_stage3_reference_kd_target_never_calls_the_teacher(env, monkeypatch):
    data, teacher = env
    spy, _ = run_stage3(data, teacher, tiny(mixup_kd_target='student_second_pass'), monkeypatch)
    assert spy.teacher_calls == 0


def test_normalize_real_switch(env, monkeypatch):
    data, teacher = env
    mean, std = teacher.model.mean, teacher.model.std
    seen_by_net = lambda x: (x - mean) / std                   # what the student's network gets after its own normalisation
    spy, _ = run_stage3(data, teacher, tiny(normalize_real=False, epochs=1), monkeypatch)
    x = spy.inputs[0]; real, mixed = x[:len(x) // 2], x[len(x) // 2:]
    net_real = seen_by_net(real)
    assert net_real.min() >= -1e-5 and net_real.max() <= 1 + 1e-5 and net_real.min() < 0.01   # raw [0, 1] digits (black background)
    assert 0 <= mixed.min() and mixed.max() <= 1                                              # the mixup half is left to the student's normalisation
    spy, _ = run_stage3(data, teacher, tiny(epochs=1), monkeypatch)
    x = spy.inputs[0]
    assert seen_by_net(x[:len(x) // 2]).min() < -1                                             # default: the real half is normalised too


def test_stage3_follows_the_f_schedule(env, monkeypatch):
    data, teacher = env
    for kind in ('linear', 'step'):
        _, log = run_stage3(data, teacher, tiny(epochs=5, a=0.5, b=0.3, f_schedule=kind), monkeypatch)
        assert log['f'] == [stage_factor(e, 5, 0.5, 0.3, kind) for e in range(5)]
    assert log['f'][-1] == 1.0


def test_reference_kd_with_dropout_free_student_warns(env):
    cfg = tiny(mixup_kd_target='student_second_pass')
    with pytest.warns(UserWarning, match='identically 0'): A.warn_if_kd_vanishes(cfg, nn.Sequential(nn.Linear(2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter('error'); A.warn_if_kd_vanishes(cfg, nn.Sequential(nn.Dropout(0.2)))


def test_interrupted_run_resumes_at_last_completed_stage(env, tmp_path, monkeypatch):
    data, teacher = env
    def crash(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(A.AugKD, 'stage2', crash)
    with pytest.raises(KeyboardInterrupt): A.AugKD(tiny()).fit(data, teacher, tmp_path, device='cpu')
    assert [p.name[:7] for p in tmp_path.glob('*.pt')] == ['stage1-']
    monkeypatch.undo()
    monkeypatch.setattr(A.AugKD, 'stage1', lambda *a, **k: pytest.fail('stage 1 ran again'))
    res = A.AugKD(tiny()).fit(data, teacher, tmp_path, device='cpu')
    assert set(res['test']) == {'acc1', 'acc3', 'acc5'} and (tmp_path/'result-augkd.json').exists()
    # ablations share the stage-1 checkpoint; the sensitivity grid reuses stages 1 and 2
    assert A.AugKD(tiny(), 'no_mixup').fit(data, teacher, tmp_path, device='cpu')['logs']['stage3']['f'] == [1.0] * 3
    rows = A.sensitivity_grid(data, teacher, tmp_path, tiny(), a_values=(1.0,), b_values=(0.5,), device='cpu')
    assert rows[0]['a'] == 1.0 and 'eval_acc1' in rows[0]


def test_missing_stage_checkpoint_is_a_clear_error(env, tmp_path):
    data, teacher = env
    with pytest.raises(FileNotFoundError, match=r"Stage checkpoint .*stage1-[0-9a-f]{8}.pt is missing"):
        A.sensitivity_grid(data, teacher, tmp_path, tiny(), a_values=(0.5,), b_values=(0.5,), device='cpu')


def test_checkpoint_of_another_configuration_is_rejected(env, tmp_path, monkeypatch):
    data, teacher = env
    A.AugKD(tiny()).fit(data, teacher, tmp_path, device='cpu')
    other = A.AugKD(tiny(g_lr=5e-4))
    (stage1,) = tmp_path.glob('stage1-*.pt')
    stage1.rename(tmp_path/f"stage1-{other.run_key(data, teacher, 0, 'stage1')[:8]}.pt")   # a file under the other key's name
    with pytest.raises(ValueError, match='belongs to another configuration'): other.fit(data, teacher, tmp_path, device='cpu')


def test_variants_share_earlier_stages_in_one_folder(env, tmp_path):
    data, teacher = env
    A.AugKD(tiny()).fit(data, teacher, tmp_path, device='cpu')
    A.AugKD(tiny(anchor_ce_weight=0.1)).fit(data, teacher, tmp_path, device='cpu', tag='-ce0.1')
    names = sorted(p.name[:7] for p in tmp_path.glob('stage*.pt'))
    assert names == ['stage1-', 'stage2-', 'stage2-', 'stage3-', 'stage3-'] and (tmp_path/'result-augkd-ce0.1.json').exists()


def test_energy_plus_unit_ce_is_minus_the_true_logit():
    logits, y, m = torch.randn(8, 10) * 5, torch.randint(0, 10, (8,)), torch.rand(8, 16)
    from augkd.losses import anchor_loss, mask_budget_loss
    loss, _ = anchor_loss(logits, m, y, ce_weight=1.0)
    assert torch.allclose(loss - mask_budget_loss(m), -logits.gather(1, y[:, None]).mean(), atol=1e-5)


def test_teacher_with_wrong_class_count_is_rejected(env, tmp_path):
    data, teacher = env
    wrong = get_teacher(load_setting('M→U', 0), preset='quick', epochs=1, device='cpu')
    wrong.model = nn.Sequential(nn.Flatten(), nn.Linear(3072, 7))
    with pytest.raises(ValueError, match='The teacher outputs 7 classes but setting digits:M→U has 10'):
        A.AugKD(tiny()).fit(data, wrong, tmp_path, device='cpu')


def test_student_domain_missing_a_class_is_rejected(env, tmp_path):
    data, teacher = env
    keep = (data.student_train.y != 3).nonzero().flatten()
    from dataclasses import replace
    holed = replace(data, student_train=data.student_train.subset(keep))
    with pytest.raises(ValueError, match=r"has no images of classes \['3'\]"): A.AugKD(tiny()).fit(holed, teacher, tmp_path, device='cpu')


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ValueError, match=r'a must lie in \(0, 1\]'): augkd_config('quick', a=0)
    with pytest.raises(ValueError, match=r'b must lie in \[0, 1\]'): augkd_config('quick', b=2)
    with pytest.raises(ValueError, match='Valid method names'): get_method('mosaic')
    with pytest.raises(ValueError, match='ablation must be one of'): A.AugKD(tiny(), 'no_everything')


def test_student_only_baselines(env, tmp_path):
    data, teacher = env
    no_kd = get_method('no_kd', tiny()).fit(data, teacher, tmp_path, device='cpu')
    raw = get_method('raw_kd', tiny()).fit(data, teacher, tmp_path, device='cpu')
    assert no_kd['method'] == 'no_kd' and raw['method'] == 'raw_kd' and no_kd['test'] != raw['test']
    assert raw['config']['ce_weight'] == 0.5 and raw['config']['mixup_kd_target'] == 'teacher'


def test_at_f_one_the_real_batch_is_not_fed_twice(env):
    data, teacher = env
    spy, _ = run_stage3(data, teacher, tiny(epochs=1, b=1.0))
    assert len(spy.inputs[0]) == 32                               # x_m = x: one copy
    spy, _ = run_stage3(data, teacher, tiny(epochs=1, b=1.0, normalize_real=False))
    assert len(spy.inputs[0]) == 64                               # reference: raw and normalised copies of each x


class DtypeSpy(Callback):
    "Records the dtype of the student's logits and loss, and of one convolution's output, in training batches."
    order = 90
    def __init__(self): self.seen = set()
    def before_fit(self):
        conv = next(m for m in self.learn.model.modules() if isinstance(m, nn.Conv2d))
        self.h = conv.register_forward_hook(lambda m, i, o: self.seen.add(('conv', o.dtype)))
    def after_loss(self):
        if self.training: self.seen |= {('logits', self.pred.dtype), ('loss', self.loss_grad.dtype)}
    def after_fit(self): self.h.remove()


def test_float32_fast_path_gives_the_plain_losses(env):
    "channels-last weights and the fast-path hooks change only rounding: from the same networks, each stage's first losses agree."
    data, teacher = env
    nets = A.AugKD(tiny()).networks(len(data.classes))
    for stage in ('stage1', 'stage2', 'stage3'):
        losses = {}
        for layout in ('off', 'on'):
            run = copy.deepcopy(nets); seed_everything(0); spy = FirstLosses()
            getattr(A.AugKD(tiny(channels_last=layout, amp='off')), stage)(data, teacher, run, 'cpu', cbs=[spy])
            losses[layout] = spy.losses
            if layout == 'on': assert all(p.is_contiguous() for p in run['student'].parameters())   # the layout is restored afterwards
            else: trained = run
        assert len(losses['on']) == 3 and all(abs(a - b) <= 2e-4 * abs(a) for a, b in zip(losses['off'], losses['on'])), (stage, losses)
        nets = trained


def test_bf16_fast_path_keeps_logits_and_losses_in_float32(env):
    data, teacher = env
    first = {}
    for amp in ('bf16', 'off'):
        method, spy, losses = A.AugKD(tiny(amp=amp)), DtypeSpy(), FirstLosses()
        seed_everything(0)
        method.stage1(data, teacher, method.networks(len(data.classes)), 'cpu', cbs=[spy, losses])
        first[amp] = losses.losses[0]
        assert spy.seen == {('conv', torch.bfloat16 if amp == 'bf16' else torch.float32), ('logits', torch.float32), ('loss', torch.float32)}
    assert first['bf16'] != first['off'] and abs(first['bf16'] - first['off']) < max(0.25 * first['off'], 0.02)   # after one bf16 generator step: near, not equal
    assert not torch.is_autocast_enabled('cpu')


def test_reference_preset_runs_on_the_plain_path_with_anomaly_detection(env, monkeypatch):
    data, teacher = env
    cfg = augkd_config('reference', **TINY, student='resnet8')
    assert (cfg.amp, cfg.channels_last, cfg.detect_anomaly) == ('off', 'off', True)
    seen, smooth = [], []
    class Probe(Callback):
        def before_batch(self): seen.append(torch.is_anomaly_enabled())
        def after_batch(self): smooth.append(self.learn.recorder.smooth_loss)
    A.AugKD(cfg).stage3(data, teacher, A.AugKD(cfg).networks(len(data.classes)), 'cpu', cbs=[Probe()])
    assert seen and all(seen) and not torch.is_anomaly_enabled()
    assert all(isinstance(m, DeviceSmoothLoss) for m in smooth)          # the smoothed loss is never copied to the host per step
    with pytest.raises(ValueError, match="channels_last must be one of"): tiny(channels_last='yes')


def test_execution_settings_leave_the_stage_checkpoints_shared(env):
    data, teacher = env
    keys = lambda cfg: [A.AugKD(cfg).run_key(data, teacher, 0, s) for s in ('stage1', 'stage2', 'stage3')]
    assert keys(tiny()) == keys(tiny(amp='bf16', channels_last='on', compile='default')) != keys(tiny(tau=4.0))


def test_compile_flag_compiles_each_forward_for_the_run_only(monkeypatch):
    "`compile` wraps every network's forward with torch.compile (the mode passed through) and restores it afterwards; state dicts keep their keys."
    from augkd.models import FastPath, build_model
    compiled = []
    def fake_compile(fn, mode=None):
        def wrapped(*a, **k): compiled.append(mode); return fn(*a, **k)
        return wrapped
    monkeypatch.setattr(torch, 'compile', fake_compile)
    net, keys = build_model('resnet8', 10), None
    with FastPath('cpu', compile='reduce-overhead') as fast:
        fast.add(net)
        net(torch.rand(2, 3, 32, 32)); keys = list(net.state_dict())
    assert compiled == ['reduce-overhead'] and keys == list(build_model('resnet8', 10).state_dict())
    net(torch.rand(2, 3, 32, 32))
    assert compiled == ['reduce-overhead'] and 'forward' not in net.__dict__


def test_batch_order_and_augmentation_follow_the_run_seed(env, tmp_path, monkeypatch):
    "On the same data, a run's seed (not a fixed loader seed) decides stage 3's batches: seed 0 twice repeats them, seed 1 changes them."
    from augkd.finetune import StudentOnly
    data, teacher = env
    firsts = []
    class FirstBatch(A.TensorLoader):
        def __iter__(self):
            batches = super().__iter__()
            if self.shuffle and not getattr(self, 'seen', False):
                self.seen = True; xb, yb = next(batches); firsts.append((xb.clone(), yb.clone())); yield xb, yb
            yield from batches
    monkeypatch.setattr(A, 'TensorLoader', FirstBatch)
    for i, seed in enumerate((0, 0, 1)): StudentOnly(tiny(epochs=1)).fit(data, teacher, tmp_path/f'run{i}', seed, 'cpu')
    (x0, y0), (x0b, y0b), (x1, y1) = firsts
    assert torch.equal(x0, x0b) and torch.equal(y0, y0b)
    assert not torch.equal(y0, y1) and not torch.equal(x0, x1)
