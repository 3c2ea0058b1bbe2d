import os, re, subprocess, sys
# usage: move.py old1:new1 old2:new2 ...
moves = dict(a.split(':') for a in sys.argv[1:])
for old, new in moves.items():
    os.makedirs(os.path.dirname(new), exist_ok=True)
    subprocess.check_call(['git', 'mv', old, new])
files = subprocess.check_output(['git', 'ls-files', 'src', 'test', 'bench', 'scripts']).decode().split()
files = [f for f in files if f.endswith(('.ts', '.mjs', '.js'))]
inv = {v: k for k, v in moves.items()}
pat = re.compile(r"""((?:from|import)\s*\(?\s*['"])(\.{1,2}/[^'"]+)(['"])""")
for f in files:
    old_self = inv.get(f, f)  # where this file used to be
    src = open(f).read()
    def fix(m):
        spec = m.group(2)
        target = os.path.normpath(os.path.join(os.path.dirname(old_self), spec))
        target = moves.get(target, target)
        rel = os.path.relpath(target, os.path.dirname(f))
        if not rel.startswith('.'): rel = './' + rel
        return m.group(1) + rel + m.group(3)
    out = pat.sub(fix, src)
    # also new URL('...', import.meta.url) worker paths
    if out != src:
        open(f, 'w').write(out)
