import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from fastai.callback.core import Callback


class InputSpy(Callback):
    "Records every training batch the student is fed (after the method's callbacks have set it)."
    order = 90
    def __init__(self): self.inputs = []
    def before_batch(self):
        if self.training: self.inputs.append(self.xb[0])


class FirstLosses(Callback):
    "The training loss of the first three batches."
    order = 90
    def before_fit(self): self.losses = []
    def after_loss(self):
        if self.training and len(self.losses) < 3: self.losses.append(self.loss_grad.item())


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    "The M→U setting and a one-epoch quick teacher, built in a private data cache (one per test module)."
    from augkd.data import load_setting
    from augkd.teacher import get_teacher
    mp = pytest.MonkeyPatch()
    mp.setenv('AUGKD_DATA', str(tmp_path_factory.mktemp('cache')))
    data = load_setting('M→U', seed=0)
    teacher = get_teacher(data, preset='quick', epochs=1, device='cpu')
    yield data, teacher
    mp.undo()
