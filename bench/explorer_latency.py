"""Explorer latency on CPU: what one slider move costs, from a finished AuG-KD run's checkpoints.

    python bench/explorer_latency.py [--run runs/augkd-digits-quick/M,MM,S→U-seed0] [--setting 'M,MM,S→U'] [--seed 0]
                                     [--repeats 20] [--threads 1]

Per action, the median and 90th percentile in ms of: the networks (`explorer_images`: encode, anchor, decode, mix, teacher
predictions), the figure drawn and encoded as PNG (what Jupyter's inline backend sends to the browser), the widget callback as
a whole (slider value set → views redrawn; outside a kernel `display` only prints, so the PNG encode is timed apart), and a
move of the test-image slider (every stored method's prediction). Prints a Markdown table.
"""
import argparse, contextlib, io, statistics, time
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import torch


def timed(fn, repeats):
    out = []
    for i in range(repeats):
        t0 = time.perf_counter(); fn(i); out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out), sorted(out)[int(0.9 * (len(out) - 1))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--run', default='runs/augkd-digits-quick/M,MM,S→U-seed0', help='a finished AuG-KD run folder')
    p.add_argument('--setting', default='M,MM,S→U')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--repeats', type=int, default=20)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args(argv)
    if not Path(a.run).is_dir():
        p.error(f"no run folder at {a.run}: run `python scripts/digits_table.py --methods augkd --seeds {a.seed}` first, or pass --run")
    torch.set_num_threads(a.threads)
    from augkd.config import augkd_config
    from augkd.data import load_setting
    from augkd.explore import explore_run, explorer_images, _image_panel, method_predictions
    from augkd.figures import trained_networks
    from augkd.teacher import get_teacher
    data, teacher, cfg = load_setting(a.setting, a.seed), get_teacher(a.setting, seed=0, preset='quick'), augkd_config('quick')
    quiet = lambda: contextlib.redirect_stdout(io.StringIO())      # outside a kernel, the widgets' `display` prints
    t0 = time.perf_counter()
    with quiet(): box = explore_run(cfg, data, teacher, a.run, a.seed)
    opened = (time.perf_counter() - t0) * 1e3
    nets, t, ev = trained_networks(cfg, data, teacher, a.run, a.seed), teacher.model.cpu().eval(), data.student_eval
    fs = [i / a.repeats for i in range(a.repeats)]
    images = lambda i: explorer_images(nets, t, ev.x[i].float() / 255, int(ev.y[i]), len(data.classes), fs[i], 0.5)
    def png(i):
        fig = _image_panel(images(i), data.classes); fig.savefig(io.BytesIO(), format='png'); plt.close(fig)
    def slide(i):
        with quiet(): box.sliders['f'].value = round(fs[i], 2) if round(fs[i], 2) != box.sliders['f'].value else 1.0
    rows = [('networks (explorer_images)', timed(images, a.repeats)), ('networks + figure + PNG encode', timed(png, a.repeats)),
            ('f slider callback (widgets, no kernel)', timed(slide, a.repeats)),
            ('test-image slider: stored predictions', timed(lambda i: method_predictions(a.run, i, data.classes), a.repeats))]
    print(f"Explorer latency, {a.run}, {a.threads} thread(s), {a.repeats} repeats; opening the explorer took {opened:.0f} ms\n")
    print('| action | median (ms) | p90 (ms) |\n|---|---|---|')
    for name, (med, p90) in rows: print(f'| {name} | {med:.0f} | {p90:.0f} |')


if __name__ == '__main__': main()
