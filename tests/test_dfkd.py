"""Data-free baselines: every generator / inversion term active with the right sign, the pool feeds the student, tiny runs."""
import copy
from pathlib import Path
import pytest
import torch
from augkd import dfkd as D
from augkd.methods import BASELINES, METHODS, get_method
from augkd.config import augkd_config
from augkd.losses import kd_kl, tiny_pair
from conftest import InputSpy, FirstLosses

GENERATIVE = ('dfq', 'zskt', 'dafl', 'dfad')


def tiny_synth(method, **kw):
    overrides = {'dfq': {'bs': 32, 'width': 16, 'g_lr': 1e-2}, 'deepinv': {'bs': 16, 'iters': 3},
                 'cmi': {'bs': 32, 'g_steps': 3, 'width': 16, 'nz': 16, 'negatives': 8, 'flip': False},
                 'pre_dfkd': {'bs': 32, 'width': 16, 'nz': 32, 'mem_nz': 16}}[method if method in ('deepinv', 'cmi', 'pre_dfkd') else 'dfq']
    synth = D.make_synthesizer(method, D.dfkd_config(synth=tuple({**overrides, **kw}.items())))
    teacher, student = tiny_pair(4, split_head=True)
    torch.manual_seed(0)
    synth.setup(teacher, student, 4, 'cpu')
    return synth, teacher, student


@pytest.mark.parametrize('method', GENERATIVE)
def test_every_generator_term_is_active(method):
    synth, *_ = tiny_synth(method)
    terms = synth.terms(synth.gen(synth.z(32)))
    assert set(terms) == set(synth.weights) and all(v.item() != 0 for v in terms.values())


@pytest.mark.parametrize('method', ('dfq', 'zskt', 'dfad'))
def test_adversarial_generator_steps_raise_disagreement(method):
    synth, teacher, student = tiny_synth(method, weights={k: v for k, v in D.DFKD_BASELINES[method].settings['weights'].items() if k.startswith('adv')})
    z = synth.z(64)
    gap = D.l1_logits if method == 'dfad' else kd_kl
    with torch.no_grad(): before = gap(teacher(synth.gen(z)), student(synth.gen(z))).item()
    for _ in range(10): synth.synthesize()
    with torch.no_grad(): after = gap(teacher(synth.gen(z)), student(synth.gen(z))).item()
    assert after > before


def test_dafl_generator_steps_lower_its_objective():
    synth, *_ = tiny_synth('dafl')
    z = synth.z(64)
    objective = lambda: sum(synth.weights[k] * v for k, v in synth.terms(synth.gen(z)).items()).item()
    before = objective()
    for _ in range(10): synth.synthesize()
    assert objective() < before


def test_adversarial_terms_use_the_real_student():
    synth, *_ = tiny_synth('dfq')
    x = synth.gen(synth.z(32))
    assert synth.terms(x)['adv'].item() < 0
    parity, *_ = tiny_synth('dfq', adv_uses_teacher=True)
    assert parity.terms(parity.gen(parity.z(32)))['adv'].item() == pytest.approx(0, abs=1e-6)


def test_deepinversion_adds_its_best_batch_to_the_pool_with_balanced_targets():
    synth, *_ = tiny_synth('deepinv', adi=1.0)
    assert synth.synthesize() == 16 and len(synth.pool) == 16
    assert set(synth.last_terms) == {'ce', 'bn', 'tv', 'l2', 'adi'}
    synth.synthesize()
    assert len(synth.pool) == 32


def test_deepinversion_zju_vipa_preset_seeks_disagreement_and_subtracts_student_bn():
    synth, teacher, student = tiny_synth('deepinv', preset='zju_vipa', iters=1)
    assert (synth.adv, synth.student_bn, synth.bn, synth.tv, synth.l2) == (1.0, -0.001, 10.0, 0.0, 0.0)
    synth.student = copy.deepcopy(teacher)                                      # a student that agrees with the teacher
    synth.student_stats.remove(); synth.student_stats = D.BNStats(synth.student, unbiased=False)
    with torch.no_grad(): synth.student.fc.weight.add_(0.05 * torch.randn_like(synth.student.fc.weight))
    v, y = torch.randn(16, 3, 32, 32, requires_grad=True), torch.arange(16) % 4
    _, terms = synth.loss(v, y)
    assert terms['adv'].item() < 0 and terms['student_bn'].item() > 0
    def gap():
        with torch.no_grad(): x = v * synth.std + synth.mean; return kd_kl(teacher(x), synth.student(x)).item()
    before, opt = gap(), torch.optim.Adam([v], 0.05)
    for _ in range(20):                                                           # the adversarial term alone
        _, terms = synth.loss(v, y); opt.zero_grad(); terms['adv'].backward(); opt.step()
    assert gap() > before
    synth.close()


def test_budget_steps_caps_every_method_at_the_same_student_steps():
    loops = {m: D.DFKDMethod(m, augkd_config(), budget_steps=80_000).loop for m in D.DFKD_BASELINES}
    assert {m: l.epochs * l.kd_steps for m, l in loops.items()} == {**{m: 80_000 for m in loops}, 'pre_dfkd': 222 * 360}
    assert D.DFKDMethod('pre_dfkd', augkd_config()).loop.epochs == 400
    with pytest.raises(ValueError, match=r'budget_steps must be at least kd_steps \(400\)'): D.DFKDMethod('dfq', augkd_config(), budget_steps=100)


def test_cmi_terms_are_active_and_a_round_fills_pool_and_bank():
    synth, teacher, student = tiny_synth('cmi')
    synth.student = copy.deepcopy(teacher)                                      # a student that mostly agrees with the teacher
    with torch.no_grad(): synth.student.fc.weight.add_(0.05 * torch.randn_like(synth.student.fc.weight))
    x, y = torch.rand(32, 3, 32, 32, requires_grad=True), torch.arange(32) % 4
    loss, terms, feats = synth.loss(x, y)
    assert set(terms) == {'bn', 'oh', 'adv', 'cr'} and all(v.item() != 0 for v in terms.values())
    assert terms['adv'].item() < 0                                                   # it rewards disagreement
    loss.backward(); assert x.grad.abs().sum() > 0
    synth.synthesize(); synth.synthesize()
    assert len(synth.pool) == 64 and len(synth.bank) == 64 and feats.shape[1] == synth.bank.shape[1]



def test_cmi_decision_adversarial_term_sees_the_teachers_view():
    "Teacher and student are compared on the same global view: the student's input is the teacher's first input of the step."
    synth, teacher, student = tiny_synth('cmi', flip=True)
    seen = {}
    hooks = [net.register_forward_pre_hook(lambda m, a, k=k: seen.setdefault(k, a[0].detach().clone())) for k, net in (('t', teacher), ('s', student))]
    x = torch.rand(8, 3, 32, 32)
    synth.loss(x, torch.arange(8) % 4)
    for h in hooks: h.remove()
    assert not torch.equal(seen['t'], x)                      # the teacher saw a shifted / flipped view …
    assert torch.equal(seen['s'], seen['t'])                  # … and the student the same one

def test_pre_dfkd_terms_are_active_and_replay_feeds_the_student(monkeypatch):
    synth, *_ = tiny_synth('pre_dfkd')
    terms = synth.terms(synth.novel(32))
    assert set(terms) == {'oh', 'ie', 'act', 'js'} and all(v.item() != 0 for v in terms.values())
    assert 0 < terms['js'].item() < 1                                                  # 1 − JS: minimising it raises disagreement
    calls = []
    original = D.ReplaySynth.replay
    monkeypatch.setattr(D.ReplaySynth, 'replay', lambda self, n: calls.append(n) or original(self, n))
    synth.synthesize()
    assert synth.sample(32).shape[0] == 32 and not any(c == 4 for c in calls[synth.mem_steps:])   # round 1: no replay yet
    synth.synthesize(); calls.clear()
    batch = synth.sample(32)
    assert calls == [4] and batch.shape == (32, 3, 32, 32)                             # B/8 of the student's batch is replayed


def test_pool_batches_feed_the_student(env, monkeypatch):
    data, teacher = env
    served = []
    original = D.ImagePool.sample
    def record(self, n):
        served.append(original(self, n)); return served[-1]
    monkeypatch.setattr(D.ImagePool, 'sample', record)
    loop = D.dfkd_config('quick', epochs=1, kd_steps=3, bs=16, synth=(('bs', 16), ('iters', 2), ('kd_per_round', 2)))
    method = D.DFKDMethod('deepinv', augkd_config('quick', epochs=1), loop)
    spy = InputSpy()
    student = D.build_model(method.cfg.student, len(data.classes))
    log = method.data_free(data, teacher, student, 'cpu', cbs=[spy])
    assert len(spy.inputs) == 3 and all(a is b for a, b in zip(spy.inputs, served))
    assert log['synth_images'] == 2 * 16 and log['student_steps'] == 3


@pytest.mark.parametrize('name', ['dfq', 'zskt+', 'dafl', 'dfad+kd', 'deepinv+', 'cmi', 'pre_dfkd+'])
def test_tiny_end_to_end(env, tmp_path, name):
    data, teacher = env
    method = get_method(name, augkd_config('quick', epochs=1))
    method.loop = D.dfkd_config('quick', epochs=1, kd_steps=2, bs=16, synth=(('bs', 16),) + {'deepinv': (('iters', 2),), 'cmi': (('g_steps', 2), ('width', 16))}.get(name.split('+')[0], (('width', 16),)))
    res = method.fit(data, teacher, tmp_path, device='cpu')
    assert res['method'] == name and set(res['test']) == {'acc1', 'acc3', 'acc5'}
    assert res['synth_images'] > 0 and res['seconds']['synthesis'] > 0
    assert ('finetune' in res['logs']) == name.endswith(('+', '+kd'))


def test_zskt_attention_term_is_active_and_hooks_are_removed(env, tmp_path):
    data, teacher = env
    big = D.make_synthesizer('zskt', D.dfkd_config(synth=(('bs', 8), ('width', 16))))
    student = D.build_model('tiny_mobilenet', 10)
    big.setup(teacher.model, student, 10, 'cpu')
    x = big.gen(big.z(8)).detach()
    with torch.no_grad(): t_logits = teacher.model(x)
    s_logits = student(x)
    with_at = big.student_loss(s_logits, t_logits, 1.0)
    assert with_at.item() > D.Synthesizer.student_loss(big, s_logits, t_logits, 1.0).item()   # β·AT > 0
    n_hooks = lambda m: sum(len(mod._forward_hooks) for mod in m.modules())
    assert n_hooks(teacher.model) > 0
    big.close()
    assert n_hooks(teacher.model) == 0 and n_hooks(student) == 0


def test_attention_transfer_rejects_an_incompatible_pair(env):
    data, teacher = env
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    synth = D.make_synthesizer('zskt', D.dfkd_config())
    with pytest.raises(ValueError, match='common spatial size'): synth.setup(teacher.model, flat, 10, 'cpu')


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match='Valid data-free method names'): D.DFKDMethod('dfqq')
    with pytest.raises(ValueError, match="plus must be None, 'ce' or 'ce_kd'"): D.DFKDMethod('dfq', plus='kd')
    with pytest.raises(ValueError, match='Unknown generator terms'): D.GenerativeSynth({'advv': 1.0})
    with pytest.raises(ValueError, match="opt must be 'sgd' or 'adam'"): D.dfkd_config(opt='rmsprop')
    with pytest.raises(ValueError, match='Valid method names'): get_method('mosaic')
    with pytest.raises(ValueError, match='Valid deepinv synthesizer preset names'): D.make_synthesizer('deepinv', D.dfkd_config(synth=(('preset', 'zju'),)))


def test_zskt_clips_generator_and_student_gradients():
    from augkd.training import own_step
    net = torch.nn.Linear(4, 1)
    before = [p.detach().clone() for p in net.parameters()]
    own_step(1e6 * net(torch.ones(2, 4)).sum(), net, torch.optim.SGD(net.parameters(), lr=1.0), clip=1.0)
    moved = torch.cat([(p - b).flatten() for p, b in zip(net.parameters(), before)]).norm()
    assert moved.item() == pytest.approx(1.0, rel=1e-4)                                # the step is the clipped gradient
    assert D.DFKDMethod('zskt', augkd_config('quick')).loop.clip == 5.0 and D.DFKD_BASELINES['zskt'].settings['clip'] == 5.0


def test_the_student_loop_trains_at_the_methods_lr(env):
    "Regression: the cosine schedule once read fastai's default lr (1e-3) instead of the loop's s_lr."
    from fastai.callback.core import Callback
    data, teacher = env
    class FirstLR(Callback):
        order = 95
        def before_batch(self):
            if self.training and not hasattr(self, 'lr0'): self.lr0 = self.opt.hypers[0]['lr']
    for method, lr in (('dfq', 0.1), ('zskt', 2e-3)):
        rec = FirstLR()
        m = D.DFKDMethod(method, augkd_config('quick', epochs=1))
        m.loop = D.dfkd_config('quick', epochs=1, kd_steps=1, bs=8, s_lr=lr, synth=(('bs', 8), ('width', 16)))
        m.data_free(data, teacher, D.build_model(m.cfg.student, len(data.classes)), 'cpu', cbs=[rec])
        assert rec.lr0 == pytest.approx(lr)


def test_readme_adding_a_method(env, tmp_path):
    "The README's 'Adding a method' example registers a baseline that trains, fine-tunes and is recorded like the others."
    data, teacher = env
    readme = (Path(__file__).resolve().parents[1]/'README.md').read_text()
    code = readme.split('test_readme_adding_a_method -->', 1)[1].split('```python', 1)[1].split('```', 1)[0]
    try:
        exec(code, {})
        assert {'noise', 'noise+', 'noise+kd'} <= set(METHODS)
        method = get_method('noise+', augkd_config('quick', epochs=1))
        assert method.loop.bs == 128 and D.make_synthesizer(BASELINES['noise'], method.loop, quick=True).bs == 128
        method.loop = D.dfkd_config('quick', epochs=1, kd_steps=2, bs=16, synth=(('bs', 16),))
        res = method.fit(data, teacher, tmp_path, device='cpu')
        assert res['method'] == 'noise+' and res['synth_images'] == 16 and 'finetune' in res['logs']
        assert (tmp_path/'result-noise+.json').exists()
    finally:
        for table in (BASELINES, METHODS):
            for k in ('noise', 'noise+', 'noise+kd'): table.pop(k, None)


@pytest.mark.parametrize('name', ['dfq', 'deepinv'])
def test_float32_fast_path_gives_the_plain_losses(env, name):
    "The synthesizer's networks join the run's fast path; in float32 the student's first losses are the plain path's."
    from fastai.callback.core import Callback
    class FastNets(Callback):
        def before_batch(self): self.n = len(self.learn.fast_path.nets)
    data, teacher = env
    losses, fast_nets = {}, {}
    for layout in ('off', 'on'):
        method = get_method(name, augkd_config('quick', channels_last=layout, amp='off'))
        method.loop = D.dfkd_config('quick', epochs=1, kd_steps=3, bs=16, synth=(('bs', 16), ('width', 16)) if name == 'dfq' else (('bs', 16), ('iters', 2)))
        torch.manual_seed(0)
        student = D.build_model(method.cfg.student, len(data.classes))
        spy, nets = FirstLosses(), FastNets()
        method.data_free(data, teacher, student, 'cpu', cbs=[spy, nets])
        losses[layout], fast_nets[layout] = spy.losses, nets.n
    assert fast_nets['on'] == (3 if name == 'dfq' else 2)          # student, teacher (+ dfq's generator)
    assert len(losses['on']) == 3 and all(abs(a - b) <= 2e-4 * abs(a) for a, b in zip(losses['off'], losses['on'])), losses
