"""The package's layout: no import cycle among its modules, and a method registry that is complete on import."""
import ast, subprocess, sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]/'augkd'


def internal_imports(path:Path) -> set[str]:
    "The `augkd` modules a file imports anywhere in it (top level or inside functions)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = 'augkd' if node.level == 1 and not node.module else (f'augkd.{node.module}' if node.level == 1 else node.module or '')
            if base == 'augkd': out |= {f'augkd.{a.name}' for a in node.names if (PKG/f'{a.name}.py').exists()}
            elif base.startswith('augkd.'): out.add(base)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith('augkd.')}
    return {m for m in out if m != 'augkd.__init__'}


def find_cycle(graph:dict) -> list | None:
    "One cycle of the directed graph as a list of nodes, or None."
    state, stack = {}, []
    def visit(n):
        state[n] = 'open'; stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 'open': return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)): return c
        state[n] = 'done'; stack.pop()
    for n in sorted(graph):
        if n not in state and (c := visit(n)): return c


def test_find_cycle_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': set()}) is None


def test_no_import_cycle_among_augkd_modules():
    graph = {f'augkd.{p.stem}': internal_imports(p) for p in PKG.glob('*.py') if p.stem not in ('__init__', '_modidx')}
    assert graph['augkd.dfkd'] and 'augkd.stages' in graph['augkd.finetune']            # the parser sees the imports
    assert find_cycle(graph) is None, f"import cycle: {' → '.join(find_cycle(graph))}"


def test_registry_is_complete_on_import():
    "Nothing registers itself as a side effect: the registry has every method before the first `get_method` call."
    code = ("from augkd.methods import METHODS, get_method; before = sorted(METHODS); get_method('augkd'); "
            "assert sorted(METHODS) == before, before; print(len(before))")
    r = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.strip()) == 5 + 6 + 3 + 3 * 9    # AuG-KD, 2 ablations, no_kd, raw_kd; 6 named AuG-KD variants; 4Ds and 2 variants; 9 baselines × {plain, +, +kd}
