"""Run every library notebook as a test (nbdev's runner; `#| slow` / `#| notest` cells skipped unless NBDEV_TEST_FLAGS names them)."""
import os
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook   # aliased: pytest would collect a module-level `test_*` name

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb')
             if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts and 'experiments' not in p.parts)

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    cfg = get_config(path=ROOT)
    ok, secs = run_notebook(nb, skip_flags=cfg.tst_flags.split(), force_flags=os.environ.get('NBDEV_TEST_FLAGS', '').split(), basepath=ROOT, do_print=False)
    assert ok, f"{nb.name} failed (see the traceback above)"
