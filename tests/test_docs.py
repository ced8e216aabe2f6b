"""The static documentation site: every notebook is a page linked from every page; headless Chromium renders the
index and a module page with their title, a function's documentation and a figure, and typesets the AuG-KD tutorial's
equations with no network (screenshots kept as artefacts)."""
import html, inspect, os, re, shutil, subprocess
from pathlib import Path
import nbformat, pytest
from PIL import Image
from augkd.docs import build_docs, doc_notebooks
from augkd.figures import trained_networks

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get('AUGKD_TEST_ARTIFACTS', ROOT/'tests'/'artifacts'))
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
# a closed network: no background connections, no component updates (see .ci/run)
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars', '--virtual-time-budget=15000']
# appended to a copy of the page: after load, the body records how many images were decoded with a non-zero size
PROBE = """<script>window.addEventListener('load', () => {
  document.body.dataset.loadedImages = [...document.images].filter(i => i.complete && i.naturalWidth > 0).length; });</script>"""


# after load, the body records how many formulas were drawn, and whether fractions and subscripts were laid out as such
MATH_PROBE = """<script>window.addEventListener('load', () => {
  const box = e => e.getBoundingClientRect(), d = document.body.dataset;
  const maths = [...document.querySelectorAll('math')], fracs = [...document.querySelectorAll('mfrac')];
  const subs = [...document.querySelectorAll('msub')];
  d.maths = maths.length; d.drawn = maths.filter(m => box(m).width > 0 && box(m).height > 0).length;
  d.fracs = fracs.length; d.stacked = fracs.filter(f => box(f.children[0]).bottom <= box(f.children[1]).top + 1).length;
  d.subs = subs.length; d.lowered = subs.filter(s => box(s.children[1]).bottom > box(s.children[0]).bottom + 1).length; });</script>"""


def need_browser():
    if not CHROMIUM:
        if os.environ.get('AUGKD_REQUIRE_BROWSER'): pytest.fail('AUGKD_REQUIRE_BROWSER is set but no chromium is on PATH (apt-get install chromium)')
        pytest.skip('no chromium on PATH (Debian: apt-get install chromium)')


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')
    return out, build_docs(ROOT/'nbs', out)


def test_every_notebook_is_a_page_linked_from_every_page(site):
    out, pages = site
    assert len(pages) == len(doc_notebooks(ROOT/'nbs')) and pages[0].name == 'index.html'
    names = {p.name for p in pages}
    for p in pages:
        text = p.read_text()
        nav = re.search(r'<nav class="augkd-nav">(.*?)</nav>', text, re.S).group(1)
        assert set(re.findall(r'href="([^"]+)"', nav)) == names, p.name
        assert '<span class="c1">#|' not in text, p.name      # no directive comment left in any code cell


def test_module_pages_document_their_exports(site):
    out, _ = site
    page = (out/'14_figures.html').read_text()
    for name in ('trained_networks', 'plot_trajectory', 'save_figure'):
        assert re.search(rf'<h3[^>]*>{name}', page), name
    assert 'def trained_networks(' not in page.replace('<span class="k">def</span>', 'def')   # the source is replaced by its docs


def chromium(url:str, user_dir:Path, *args) -> str:
    r = subprocess.run([CHROMIUM, *FLAGS, f'--user-data-dir={user_dir}', *args, url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def visible_text(dom:str) -> str:
    dom = re.sub(r'<(script|style)[^>]*>.*?</\1>', ' ', dom, flags=re.S)
    return ' '.join(html.unescape(re.sub(r'<[^>]+>', ' ', dom)).split())


@pytest.mark.parametrize('page,title,doc', [('index.html', 'augkd', None),
                                            ('14_figures.html', 'Figures', trained_networks)])
def test_headless_chromium_renders_title_docs_and_figure(site, tmp_path, page, title, doc):
    need_browser()
    out, _ = site
    probe = out/f'probe-{page}'
    probe.write_text((out/page).read_text().replace('</body>', PROBE + '</body>', 1))
    dom = chromium(probe.as_uri(), tmp_path/'profile', '--dump-dom')
    assert re.search(rf'<h1[^>]*>{re.escape(title)}', dom), f'no <h1>{title}'
    assert int(re.search(r'data-loaded-images="(\d+)"', dom).group(1)) >= 1, 'no figure was decoded'
    if doc: assert re.search(rf'<h3[^>]*>{doc.__name__}', dom) and inspect.getdoc(doc) in visible_text(dom)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS/f"docs-{page.replace('.html', '.png')}"
    chromium((out/page).as_uri(), tmp_path/'profile2', '--window-size=1280,1600', f'--screenshot={shot}')
    im = Image.open(shot).convert('L')
    assert im.size == (1280, 1600) and len(im.getcolors(1 << 16)) > 16, 'the screenshot is blank'


def test_pages_load_nothing_from_the_network(site):
    "No page links a script, style sheet or font on another host: the site reads offline (nbconvert's CDN scripts removed)."
    out, pages = site
    for p in pages:
        text = p.read_text()
        assert not re.search(r'<(script|link|img)\b[^>]*(src|href)="(https?:)?//', text), p.name
        assert all('://' not in s for s in re.findall(r'<script\b.*?</script>', text, re.S)), p.name


def test_headless_chromium_typesets_the_tutorial_equations(site, tmp_path):
    "Every formula of the AuG-KD tutorial becomes MathML that the browser draws: fractions stacked, subscripts lowered."
    need_browser()
    out, _ = site
    source = ' '.join(c.source for c in nbformat.read(ROOT/'nbs'/'09_augkd.ipynb', as_version=4).cells if c.cell_type == 'markdown')
    n_formulas = len(re.findall(r'\$\$.+?\$\$', source, re.S)) + len(re.findall(r'(?<!\$)\$(?!\$)[^$\n]+?\$(?!\$)', re.sub(r'\$\$.+?\$\$', '', source, flags=re.S)))
    page = (out/'09_augkd.html').read_text()
    assert page.count('<math') == n_formulas >= 40, (page.count('<math'), n_formulas)
    probe = out/'probe-09_augkd.html'
    probe.write_text(page.replace('</body>', MATH_PROBE + '</body>', 1))
    dom = chromium(probe.as_uri(), tmp_path/'profile', '--dump-dom')
    got = {k: int(re.search(rf'data-{k}="(\d+)"', dom).group(1)) for k in ('maths', 'drawn', 'fracs', 'stacked', 'subs', 'lowered')}
    assert got['maths'] == got['drawn'] == n_formulas, got
    assert got['fracs'] > 0 and got['stacked'] == got['fracs'], got
    assert got['subs'] > 10 and got['lowered'] == got['subs'], got
    assert '$$' not in visible_text(dom) and '\\mathcal' not in visible_text(dom)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chromium((out/'09_augkd.html').as_uri(), tmp_path/'profile2', '--window-size=1280,2400', f"--screenshot={ARTIFACTS/'docs-09_augkd.png'}")
