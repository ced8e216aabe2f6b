"""4Ds through the library's doors: the registry's `4ds.` settings in a grid, released teachers, and `augkd distill`."""
import pytest
import torch
from augkd.fourds import FourierTeacher, stage_modules
from augkd.methods import configured_method, check_teacher_fits
from augkd.released import released_teacher


def test_4ds_settings_reach_only_the_4ds_cells_of_a_grid():
    from augkd.grid import expand_grid
    cells = expand_grid(['M→U'], ['no_kd', '4ds', '4ds_reference'], [0], changes={'epochs': 3, '4ds.epochs': 2})
    changes = {c.method: dict(c.changes) for c in cells}
    assert changes['no_kd'] == {'epochs': 3} and changes['4ds'] == changes['4ds_reference'] == {'epochs': 3, '4ds.epochs': 2}
    with pytest.raises(ValueError, match=r"No method of the grid takes '4ds.' settings"):
        expand_grid(['M→U'], ['no_kd'], [0], changes={'4ds.epochs': 2})


@pytest.mark.parametrize('name, n_stages', [('ccexam:svhn', 4), ('ccexam:usps', 3), ('ccexam:mnist', 3)])
def test_released_teachers_take_fourier_adapters(name, n_stages):
    "Every packaged teacher has stages (the last output at each resolution); at α = (0, 1) the adapted copy is the teacher, the BatchNorm-free one included."
    teacher = released_teacher(name, device='cpu').model
    stages = stage_modules(teacher)
    assert len(stages) == n_stages and all(s[1] * s[2] > 1 for _, _, s in stages)
    ft = FourierTeacher(teacher).eval()
    for a in ft.adapters: a.w.data.copy_(torch.tensor([-100., 100.]))
    x = torch.rand(4, 3, 32, 32)
    assert torch.allclose(ft(x), teacher(x), atol=1e-3)
    check_teacher_fits('4ds', configured_method('4ds'), teacher)
