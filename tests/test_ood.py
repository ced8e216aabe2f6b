"""OOD-data baselines: MosaicKD's discriminator and generator terms, ODSD's sampler and loss terms, the pool feeding the student, tiny runs."""
import pytest
import torch
import torch.nn.functional as F
from augkd import ood as O
from augkd.config import augkd_config
from augkd.methods import get_method
from augkd.training import own_step
from augkd.dfkd import DFKDMethod, dfkd_config, info_nce
from augkd.losses import kd_kl, tiny_pair
from augkd.models import build_model
from conftest import InputSpy


def tiny_mosaic(weights=None, **kw):
    teacher, student = tiny_pair(4)
    torch.manual_seed(0)
    synth = O.MosaicSynth(weights, nz=16, width=32, ndf=8, bs=32, g_lr=1e-2, d_lr=1e-2, **kw)
    synth.ood = (torch.rand(64, 3, 32, 32) * 0.3 * 255).to(torch.uint8)
    synth.setup(teacher, student, 4, 'cpu')
    return synth, teacher, student


def test_discriminator_steps_separate_real_from_generated_patches():
    synth, *_ = tiny_mosaic()
    real, fake = synth.ood_batch(32, augment=False), synth.gen(synth.z(32)).detach()
    gap = lambda: (synth.d_logits(real).mean() - synth.d_logits(fake).mean()).item()
    before_loss, before_gap = synth.d_loss(real, fake).item(), gap()
    for _ in range(10): own_step(synth.d_loss(real, fake), synth.disc, synth.d_opt)
    assert synth.d_loss(real, fake).item() < before_loss and gap() > before_gap


@pytest.mark.parametrize('term', ['local', 'adv', 'align', 'bal'])
def test_each_generator_term_is_active_and_pushes_the_right_way(term):
    "local: fool D; adv (−KL): raise T/S disagreement; align: lower the teacher's entropy; bal: even the classes."
    synth, *_ = tiny_mosaic({term: 1.0})
    z = synth.z(64)
    value = lambda: synth.terms(synth.gen(z))[term].item()
    before = value()
    assert before != 0
    for _ in range(10): own_step(synth.terms(synth.gen(synth.z(32)))[term], synth.gen, synth.g_opt)   # G alone, D fixed
    assert value() < before


def test_adversarial_term_uses_the_real_student():
    synth, teacher, student = tiny_mosaic({'adv': 1.0})
    x = synth.gen(synth.z(16))
    assert synth.terms(x)['adv'].item() < 0
    synth.adv_uses_teacher = True
    assert synth.terms(x)['adv'].item() == pytest.approx(0, abs=1e-6)


def test_student_batch_is_generated_then_pool_images(env, monkeypatch):
    data, teacher = env
    served = []
    original = O.MosaicSynth.ood_batch
    def record(self, n, augment=True):
        x = original(self, n, augment)
        if augment: served.append(x)
        return x
    monkeypatch.setattr(O.MosaicSynth, 'ood_batch', record)
    loop = dfkd_config('quick', epochs=1, kd_steps=3, bs=8, synth=(('bs', 8), ('width', 16), ('ndf', 8)))
    method = DFKDMethod(O.OOD_BASELINES['mosaickd'], augkd_config('quick', epochs=1), loop)
    spy = InputSpy()
    log = method.data_free(data, teacher, build_model(method.cfg.student, len(data.classes)), 'cpu', cbs=[spy])
    assert len(spy.inputs) == 3 and all(x.shape[0] == 16 and torch.equal(x[8:], s) for x, s in zip(spy.inputs, served))
    assert log['ood_images'] == len(data.student_train) and log['synth_images'] == 8   # one G/D round of 8 in 3 steps (5 per round)


def test_shared_normalizer_off_standardises_the_pool_with_its_own_statistics():
    synth, *_ = tiny_mosaic(flip=False, shared_normalizer=False)
    torch.manual_seed(1); xb = synth.sample(8)[8:]
    torch.manual_seed(1); ref = synth.ood_batch(8)
    assert torch.allclose((xb - synth.mean) / synth.std, (ref - synth.ood_mean) / synth.ood_std, atol=1e-5)


def test_entropy_subset_keeps_the_least_certain_images():
    teacher, student = tiny_pair(4)
    synth = O.MosaicSynth(nz=16, width=32, ndf=8, bs=8, entropy_subset=10)
    pool = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    synth.ood = pool
    synth.setup(teacher, student, 4, 'cpu')
    h = O.teacher_entropy(teacher, pool)
    assert len(synth.ood) == 10 and O.teacher_entropy(teacher, synth.ood).min() >= h.topk(10).values.min() - 1e-6


def constructed_pool():
    "A tiny teacher fitted to four colour classes; a pool of 64 such images and 64 uniform-noise images."
    teacher, student = tiny_pair(4, split_head=True)
    torch.manual_seed(0)
    proto = torch.eye(4, 3)[:, :, None, None].expand(4, 3, 32, 32) * 0.8 + 0.1
    real = (proto.repeat(16, 1, 1, 1) + 0.05 * torch.randn(64, 3, 32, 32)).clamp(0, 1)
    opt = torch.optim.Adam(teacher.parameters(), 1e-2); teacher.requires_grad_(True).train()
    for _ in range(100):
        loss = F.cross_entropy(teacher(real), torch.arange(4).repeat(16)); opt.zero_grad(); loss.backward(); opt.step()
    teacher.eval().requires_grad_(False)
    return teacher, student, torch.cat([real, torch.rand(64, 3, 32, 32)]).mul(255).round().to(torch.uint8)


def test_odsd_sampler_prefers_in_distribution_class_balanced_images(monkeypatch):
    monkeypatch.setattr(O, 'random_crop_flip', lambda x, flip: x)              # views without augmentation: traceable to the pool
    teacher, student, pool = constructed_pool()
    odsd = O.OpenWorldSampler(keep=0.5)
    odsd.ood = pool
    odsd.setup(teacher, student, 4, 'cpu')
    assert odsd.synthesize() == len(pool)
    counts = torch.bincount(odsd.pseudo, minlength=4)
    assert (odsd.selected < 64).float().mean() > 0.9 and counts.max() - counts.min() <= 1
    served = (odsd.sample(32) * 255).round().to(torch.uint8)
    assert torch.equal(served[:32], served[32:])                                  # two views of the same images
    assert (served[:, None] == pool[odsd.selected][None]).flatten(2).all(2).any(1).all()   # every one a selected pool image
    assert odsd.synthesize() == 0                                  # re-scores only every `rescore_every` rounds
    odsd.close()


def test_odsd_loss_terms_are_active_and_pull_the_student_towards_the_teacher():
    teacher, student, pool = constructed_pool()
    odsd = O.OpenWorldSampler(keep=0.5)
    odsd.ood = pool
    odsd.setup(teacher, student, 4, 'cpu')
    odsd.synthesize()
    torch.manual_seed(0)
    xb = odsd.sample(16)
    terms = lambda: odsd.loss_terms(student(xb), teacher(xb), 4.0)
    first = {k: v.item() for k, v in terms().items()}
    assert all(v > 0 for v in first.values()), first
    opt = torch.optim.SGD(student.parameters(), 0.05, momentum=0.9)
    for _ in range(30):
        loss = odsd.student_loss(student(xb), teacher(xb), 4.0); opt.zero_grad(); loss.backward(); opt.step()
    last = {k: v.item() for k, v in terms().items()}
    assert last['kd'] < first['kd'] and last['rel'] < first['rel'], (first, last)
    same = F.normalize(torch.randn(16, 8), dim=1)
    assert info_nce(same, same, None, 0.2) < info_nce(same, same.roll(1, 0), None, 0.2)
    odsd.close()
    assert sum(len(m._forward_hooks) for m in [*teacher.modules(), *student.modules()]) == 0


def test_pool_rejects_teacher_domains_and_bad_settings_are_clear_errors(env):
    data, teacher = env
    with pytest.raises(ValueError, match="contains teacher domains"): O.ood_pool(data, ('M',))
    assert len(O.ood_pool(data)) == len(data.student_train)
    with pytest.raises(ValueError, match='Unknown MosaicKD terms'): O.MosaicSynth({'locl': 1.0})
    with pytest.raises(ValueError, match="patch_reduction must be 'sum' or 'mean'"): O.MosaicSynth(patch_reduction='max')
    with pytest.raises(ValueError, match="confidence must be"): O.OpenWorldSampler(confidence='margin')
    with pytest.raises(ValueError, match='call attach'): O.MosaicSynth().setup(*tiny_pair(4), 4, 'cpu')


@pytest.mark.parametrize('name', ['mosaickd', 'mosaickd+', 'odsd_provisional+'])
def test_tiny_end_to_end(env, tmp_path, name):
    data, teacher = env
    method = get_method(name, augkd_config('quick', epochs=1))
    synth = (('width', 16), ('ndf', 8), ('bs', 8)) if name.startswith('mosaickd') else (('kd_per_round', 2), ('rescore_every', 1))
    method.loop = dfkd_config('quick', epochs=1, kd_steps=2, bs=8, synth=synth)
    res = method.fit(data, teacher, tmp_path, device='cpu')
    assert res['method'] == name and set(res['test']) == {'acc1', 'acc3', 'acc5'}
    assert res['logs']['data_free']['ood_images'] == len(data.student_train) and res['seconds']['synthesis'] > 0
    assert ('finetune' in res['logs']) == name.endswith('+')
