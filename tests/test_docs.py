"""The documentation site (MkDocs, Material theme): the README and every notebook are pages linked from every page, module
pages document their exports with parameter tables and source links, and nothing comes from the network. Headless Chromium,
driven over the DevTools protocol, renders the home page and a module page, typesets the AuG-KD tutorial's equations, and
searches for a function, clicks the first result and lands on its parameter table (screenshots kept as artefacts)."""
import base64, fcntl, html, inspect, json, os, re, shutil, subprocess, time
from pathlib import Path
import nbformat, pytest
from PIL import Image
from fastcore.docments import docments
from augkd.docs import build_docs, doc_notebooks, page_name
from augkd.figures import trained_networks
from augkd.grid import expand_grid

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get('AUGKD_TEST_ARTIFACTS', ROOT/'tests'/'artifacts'))
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
# a closed network: no background connections, no component updates (see .ci/run)
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars']

# in the page: how many formulas were drawn, and whether fractions and subscripts were laid out as such
MATH_PROBE = """(() => {
  const box = e => e.getBoundingClientRect();
  const maths = [...document.querySelectorAll('article math')], fracs = [...document.querySelectorAll('article mfrac')];
  const subs = [...document.querySelectorAll('article msub')];
  return {maths: maths.length, drawn: maths.filter(m => box(m).width > 0 && box(m).height > 0).length,
          fracs: fracs.length, stacked: fracs.filter(f => box(f.children[0]).bottom <= box(f.children[1]).top + 1).length,
          subs: subs.length, lowered: subs.filter(s => box(s.children[1]).bottom > box(s.children[0]).bottom + 1).length}; })()"""


def need_browser():
    if not CHROMIUM:
        if os.environ.get('AUGKD_REQUIRE_BROWSER'): pytest.fail('AUGKD_REQUIRE_BROWSER is set but no chromium is on PATH (apt-get install chromium)')
        pytest.skip('no chromium on PATH (Debian: apt-get install chromium)')


class Browser:
    "Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`): real key presses and mouse clicks, no extra package."
    def __init__(self, user_dir:Path, size=(1280, 1600)):
        self.r_in, w_in = os.pipe()                      # Chromium writes on its fd 4
        r_out, self.w_out = os.pipe()                    # Chromium reads on its fd 3
        def fds():                                       # in the child, via fds above both in case either is 3 or 4
            a, b = fcntl.fcntl(r_out, fcntl.F_DUPFD, 10), fcntl.fcntl(w_in, fcntl.F_DUPFD, 10)
            os.dup2(a, 3); os.dup2(b, 4)
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f'--window-size={size[0]},{size[1]}', '--remote-debugging-pipe',
                                      f'--user-data-dir={user_dir}', 'about:blank'],
                                     preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r_out); os.close(w_in)
        self.buf, self.last_id, self.requests = b'', 0, []
        try:
            target = self.call('Target.createTarget', url='about:blank')['targetId']
            self.session = self.call('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
            for domain in ('Page', 'Runtime', 'Network'): self.call(f'{domain}.enable', session=True)
            self.call('Emulation.setDeviceMetricsOverride', session=True, width=size[0], height=size[1], deviceScaleFactor=1, mobile=False)
        except BaseException: self.close(); raise

    def _message(self, deadline):
        while b'\0' not in self.buf:
            if time.monotonic() > deadline: raise TimeoutError('Chromium did not answer')
            chunk = os.read(self.r_in, 1 << 16)
            if not chunk: raise RuntimeError('Chromium closed the DevTools pipe')
            self.buf += chunk
        msg, self.buf = self.buf.split(b'\0', 1)
        return json.loads(msg)

    def call(self, method:str, session=False, timeout=60, **params):
        self.last_id += 1
        msg = {'id': self.last_id, 'method': method, 'params': params, **({'sessionId': self.session} if session else {})}
        os.write(self.w_out, json.dumps(msg).encode() + b'\0')
        deadline = time.monotonic() + timeout
        while True:
            m = self._message(deadline)
            if m.get('method') == 'Network.requestWillBeSent': self.requests.append(m['params']['request']['url'])
            if m.get('id') == self.last_id:
                if 'error' in m: raise RuntimeError(f"{method}: {m['error']}")
                return m['result']

    def js(self, expression:str):
        r = self.call('Runtime.evaluate', session=True, expression=expression, returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in r: raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r['result'].get('value')

    def wait(self, expression:str, timeout=60):
        "Evaluate `expression` until it is truthy; its value."
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try: v = self.js(expression)
            except RuntimeError: v = None                # a page being replaced
            if v: return v
            time.sleep(0.1)
        raise TimeoutError(f'never true: {expression}')

    def goto(self, url:str):
        self.call('Page.navigate', session=True, url=url)
        self.wait(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def click(self, selector:str):
        "A left click in the middle of the first element `selector` matches, as the mouse makes it."
        x, y = self.wait(f"""(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;
            e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
            return r.width && r.height ? [r.x + r.width / 2, r.y + r.height / 2] : null; }})()""")
        for kind in ('mousePressed', 'mouseReleased'):
            self.call('Input.dispatchMouseEvent', session=True, type=kind, x=x, y=y, button='left', clickCount=1)

    def type(self, text:str):
        "Key presses, one a character, into the focused element."
        for ch in text:
            self.call('Input.dispatchKeyEvent', session=True, type='keyDown', key=ch, text=ch)
            self.call('Input.dispatchKeyEvent', session=True, type='keyUp', key=ch)

    def screenshot(self, path:Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call('Page.captureScreenshot', session=True, format='png')['data']))
        im = Image.open(path).convert('L')
        assert len(im.getcolors(1 << 16)) > 16, f'the screenshot {path.name} is blank'
        return im

    def close(self):
        try: self.call('Browser.close', timeout=10)
        except Exception: pass
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        for fd in (self.r_in, self.w_out): os.close(fd)


@pytest.fixture
def browser(tmp_path):
    need_browser()
    b = Browser(tmp_path/'profile')
    yield b
    try: b.js('0')                                       # read the events sent before now
    finally: b.close()
    off_host = [u for u in b.requests if not u.startswith(('file:', 'data:', 'about:', 'blob:'))]
    assert not off_host, f'the pages asked the network for {off_host[:5]}'


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')
    return out, build_docs(ROOT/'nbs', out)


def test_every_notebook_is_a_page_linked_from_every_page(site):
    out, pages = site
    nbs = doc_notebooks(ROOT/'nbs')
    names = ['index.html'] + [page_name(p, ROOT/'nbs')[:-3] + '.html' for p in nbs]
    assert [p.name for p in pages] == names and names[1] == 'overview.html'           # the README is the home page
    for p in pages:
        text = p.read_text()
        nav = re.search(r'<nav class="md-nav md-nav--primary".*?</nav>\s*</div>\s*</div>\s*</div>', text, re.S).group(0)
        assert set(names) - {p.name} <= set(re.findall(r'href="([^"#]+\.html)"', nav)), p.name
        assert '<span class="c1">#|' not in text, p.name      # no directive comment left in any code cell
    assert re.search(r'<h1[^>]*>augkd', pages[0].read_text()) and 'make reproduce' in pages[0].read_text()


def test_module_pages_document_their_exports_with_parameter_tables_and_source_links(site):
    out, _ = site
    page = (out/'14_figures.html').read_text()
    for name in ('trained_networks', 'plot_trajectory', 'save_figure'):
        assert re.search(rf'<h3 id="{name}"', page), name
    section = re.search(r'<h3 id="trained_networks".*?(?=<h[23] )', page, re.S).group(0)
    line = inspect.getsourcelines(trained_networks)[1]
    link = re.search(r'<a href="(source/augkd/figures\.py\.html)#(__codelineno-0-(\d+))">augkd/figures\.py, line (\d+)</a>', section)
    assert link and int(link.group(3)) == int(link.group(4)) == line, 'no link to the source line'
    src = (out/link.group(1)).read_text()                                             # the line it points at defines it
    first = re.search(rf'<a id="{link.group(2)}" name="{link.group(2)}"></a>(.*?)\n', src).group(1)
    assert html.unescape(re.sub(r'<[^>]+>', '', first)).strip() == inspect.getsourcelines(trained_networks)[0][0].strip(), first
    assert [visible_text(h) for h in re.findall(r'<th[^>]*>(.*?)</th>', visible_table(section), re.S)][1:] == ['Type', 'Default', 'Details']
    rows = table_rows(section)
    for arg, d in docments(trained_networks, full=True).items():
        if arg == 'return': continue
        assert arg in rows and (d['docment'] or '') in rows[arg][2], (arg, rows.get(arg))
    assert visible_text(section).count(inspect.getdoc(trained_networks)) == 1


def visible_text(dom:str) -> str:
    dom = re.sub(r'<(script|style)[^>]*>.*?</\1>', ' ', dom, flags=re.S)
    return ' '.join(html.unescape(re.sub(r'<[^>]+>', ' ', dom)).split())


def visible_table(section:str) -> str: return re.search(r'<table>.*?</table>', section, re.S).group(0)


def table_rows(section:str) -> dict:
    "The parameter table's rows as {name: [type, default, details]}."
    rows = re.findall(r'<tr>(.*?)</tr>', visible_table(section), re.S)
    cells = [[visible_text(c) for c in re.findall(r'<t[dh][^>]*>(.*?)</t[dh]>', r, re.S)] for r in rows]
    return {c[0]: c[1:] for c in cells if c}


def param_rows(browser, name:str) -> list|None:
    "The cells' text of the first table after the heading `name` and before the next heading, row by row (the page as drawn)."
    return browser.js(f"""(() => {{ let e = document.querySelector('h3#{name}').nextElementSibling;
        while (e && !/^H[1-3]$/.test(e.tagName) && !(e.tagName === 'TABLE' ? e : e.querySelector('table'))) e = e.nextElementSibling;
        const t = e && (e.tagName === 'TABLE' ? e : e.querySelector('table'));
        return t ? [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim())) : null; }})()""")


def test_pages_load_nothing_from_the_network(site):
    "No page links a script, style sheet, font or image on another host, and no style sheet imports one: the site reads offline."
    out, _ = site
    for p in out.rglob('*.html'):
        text = p.read_text()
        assert not re.search(r'<(script|link|img|iframe)\b[^>]*(src|href)="(https?:)?//', text), p.name
        assert all('://' not in s for s in re.findall(r'<script\b(?![^>]*application/json).*?</script>', text, re.S)), p.name
    for css in out.rglob('*.css'):
        assert not re.search(r'@import|url\(["\']?(https?:)?//', css.read_text()), css.name


@pytest.mark.parametrize('page,title,doc', [('index.html', 'augkd', None),
                                            ('14_figures.html', 'Figures', trained_networks)])
def test_headless_chromium_renders_title_docs_and_figure(site, browser, page, title, doc):
    out, _ = site
    browser.goto((out/page).as_uri())
    assert browser.wait("document.querySelector('article h1') && document.querySelector('article h1').textContent").strip().startswith(title)
    assert browser.wait("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length"), 'no figure was decoded'
    if doc:
        assert param_rows(browser, doc.__name__)[0][1:] == ['Type', 'Default', 'Details']
        assert inspect.getdoc(doc) in browser.js("document.querySelector('article').innerText").replace('\n', ' ')
    toc = browser.js("[...document.querySelectorAll('nav.md-nav--secondary a.md-nav__link')].filter(a => a.offsetParent).map(a => a.textContent.trim())")
    assert len(toc) >= 3, f'no contents list: {toc}'
    im = browser.screenshot(ARTIFACTS/f"docs-{page.replace('.html', '.png')}")
    assert im.size == (1280, 1600)


def test_headless_chromium_typesets_the_tutorial_equations(site, browser):
    "Every formula of the AuG-KD tutorial becomes MathML that the browser draws: fractions stacked, subscripts lowered."
    out, _ = site
    source = ' '.join(c.source for c in nbformat.read(ROOT/'nbs'/'09_augkd.ipynb', as_version=4).cells if c.cell_type == 'markdown')
    n_formulas = len(re.findall(r'\$\$.+?\$\$', source, re.S)) + len(re.findall(r'(?<!\$)\$(?!\$)[^$\n]+?\$(?!\$)', re.sub(r'\$\$.+?\$\$', '', source, flags=re.S)))
    page = (out/'09_augkd.html').read_text()
    assert page.count('<math') == n_formulas >= 40, (page.count('<math'), n_formulas)
    browser.goto((out/'09_augkd.html').as_uri())
    got = browser.js(MATH_PROBE)
    assert got['maths'] == got['drawn'] == n_formulas, got
    assert got['fracs'] > 0 and got['stacked'] == got['fracs'], got
    assert got['subs'] > 10 and got['lowered'] == got['subs'], got
    text = browser.js("document.querySelector('article').innerText")
    assert '$$' not in text and '\\mathcal' not in text
    browser.screenshot(ARTIFACTS/'docs-09_augkd.png')


def test_headless_chromium_searches_for_a_function_and_lands_on_its_parameter_table(site, browser):
    "From the home page opened from the file system: type `expand_grid` into the search box, click the first result, and land on its documentation."
    out, _ = site
    browser.goto((out/'index.html').as_uri())
    browser.click('input.md-search__input')
    browser.type('expand_grid')
    # the first result is a page: a link to its top, then one to each section that matches, best first; take the best section
    browser.wait("""(() => { const a = [...document.querySelectorAll('.md-search-result__item:first-child a.md-search-result__link')]
                                     .find(a => new URL(a.href).hash); if (a) a.dataset.first = 'yes'; return !!a; })()""", timeout=60)
    browser.screenshot(ARTIFACTS/'docs-search.png')
    first = 'a[data-first]'
    target = browser.js(f"document.querySelector({json.dumps(first)}).href")
    assert '/12b_grid.html?' in target and target.endswith('#expand_grid'), target
    assert any(u.endswith('/search/search_index.js') for u in browser.requests), 'not the offline search index'
    browser.click(first)
    browser.wait(f"location.href === {json.dumps(target)} && document.readyState === 'complete'")
    assert browser.js('location.pathname').endswith('/12b_grid.html'), browser.js('location.href')
    heading = browser.wait("document.querySelector('h3#expand_grid') && document.querySelector('h3#expand_grid').textContent")
    assert heading.startswith('expand_grid')
    rows = param_rows(browser, 'expand_grid')
    assert rows and rows[0][1:] == ['Type', 'Default', 'Details'], rows
    params = {k: v for k, v in docments(expand_grid, full=True).items() if k != 'return'}
    by_name = {r[0]: r[1:] for r in rows[1:]}
    assert set(params) <= set(by_name), (set(params), set(by_name))
    for k, v in params.items():
        assert by_name[k][1] == repr(v['default']) and by_name[k][2] == ' '.join((v['docment'] or '').replace('`', '').split()), (k, by_name[k])
    assert browser.js("document.querySelector('h3#expand_grid').getBoundingClientRect().top") < 1600    # scrolled to it
    browser.screenshot(ARTIFACTS/'docs-search-landed.png')
