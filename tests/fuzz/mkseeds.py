#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the real
Claude Code fixtures, the repository's configs and the recorded upstream streams and bodies in
the unit tests (string literals, macros expanded by the C preprocessor) and e2e tests.

Run from the repository root: python3 tests/fuzz/mkseeds.py [SHARED_DIR]
(SHARED_DIR defaults to ../shared). Rewrites the corpus directories; regress/ is untouched.
Each seed starts with the target's mode bytes (see the header comment of each fuzz_*.c)."""
import glob, hashlib, json, os, re, shutil, subprocess, sys

shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join('..', 'shared')
out_root = os.path.join('tests', 'fuzz', 'corpus')
corpus = {}


def add(target, data, *prefixes):
    if isinstance(data, str):
        data = data.encode()
    for p in prefixes or (b'',):
        corpus.setdefault(target, []).append(bytes(p) + data)


# ---- C string literals of the unit tests, after the preprocessor (EV(...) and friends)
LIT = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def c_unescape(s):
    out, i = bytearray(), 0
    simple = {'n': 10, 'r': 13, 't': 9, '0': 0, '\\': 92, '"': 34, "'": 39, 'a': 7, 'b': 8,
              'f': 12, 'v': 11, '?': 63}
    while i < len(s):
        c = s[i]
        if c != '\\':
            out += c.encode()
            i += 1
            continue
        n = s[i + 1]
        if n == 'x':
            j = i + 2
            while j < len(s) and s[j] in '0123456789abcdefABCDEF':
                j += 1
            out.append(int(s[i + 2:j], 16) & 255)
            i = j
        elif n in '01234567':
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in '01234567':
                j += 1
            out.append(int(s[i + 1:j], 8) & 255)
            i = j
        else:
            out.append(simple.get(n, ord(n)))
            i += 2
    return bytes(out)


def literals(path):
    cflags = subprocess.run(['pkg-config', '--cflags', 'lua5.4', 'libevent', 'libcjson', 'cmocka'],
                            capture_output=True, text=True).stdout.split()
    pp = subprocess.run(['cc', '-E', '-P', '-D_GNU_SOURCE', '-Isrc', '-Itests/unit'] + cflags +
                        [path], capture_output=True, text=True)
    text = pp.stdout
    # the test's own part only: after the last system header's declarations
    res, pos = [], 0
    # adjacent literals form one string
    for m in re.finditer(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+', text):
        parts = LIT.findall(m.group(0))
        res.append(b''.join(c_unescape(p) for p in parts))
    return res


def is_json(b):
    try:
        return json.loads(b.decode('utf-8'))
    except Exception:
        return None


streams = {'anthropic': [], 'openai': [], 'gemini': []}
bodies = {'anthropic': [], 'openai': [], 'gemini': []}
errors = []
requests = []
for fmt in streams:
    for lit in literals(f'tests/unit/test_{fmt}.c'):
        if len(lit) < 8:
            continue
        if b'data:' in lit:
            streams[fmt].append(lit)
            continue
        j = is_json(lit)
        if isinstance(j, dict):
            if 'error' in j:
                errors.append(lit)
            elif 'messages' in j:
                requests.append(lit)
            else:
                bodies[fmt].append(lit)
for lit in literals('tests/unit/test_sse.c'):
    if b'data:' in lit or b'event:' in lit:
        streams.setdefault('sse', []).append(lit)
for lit in literals('tests/unit/test_provider_util.c'):
    j = is_json(lit)
    if isinstance(j, dict) and 'error' in j:
        errors.append(lit)

# e2e recordings: lines "data: {...}" in the mock upstreams
for path in glob.glob('tests/e2e/*.mjs'):
    for m in re.finditer(r"'(data: [^'\n]*)'|`(data: [^`]*)`", open(path).read()):
        s = (m.group(1) or m.group(2)).replace('\\n', '\n')
        if '${' not in s:
            fmt = 'gemini' if 'candidates' in s else 'openai' if 'choices' in s else 'anthropic'
            streams[fmt].append(s.encode() if s.endswith('\n\n') else (s + '\n\n').encode())

# ---- fixtures: the Claude Code requests
fixtures = []
for path in sorted(glob.glob(os.path.join(shared, 'fixtures', '*', '*.json'))):
    with open(path) as f:
        fixtures.append((os.path.basename(os.path.dirname(path)) + '-' + os.path.basename(path),
                         json.load(f)))
if not fixtures:
    sys.exit(f'mkseeds: no fixtures under {shared}/fixtures')

def shrink(v):
    """The fixture's structure with long texts cut: small seeds that keep every shape (the
    fixtures' system prompts and tool descriptions are most of their 100 KB)."""
    if isinstance(v, str):
        return v[:120]
    if isinstance(v, list):
        return [shrink(x) for x in v[:40]]
    if isinstance(v, dict):
        return {k: shrink(x) for k, x in v.items()}
    return v


for name, fx in fixtures:
    body = json.dumps(shrink(fx['body']), separators=(',', ':')).encode()
    add('tokens', body)
    add('jsonparse', body)
    add('summary', body, b'\x00', b'\x07')
    add('jsonscan', body, b'\x00', b'\x80')
    for fmt in ('anthropic', 'openai', 'gemini'):
        add(f'build_{fmt}', body, b'\x00', b'\x31')
    # the HTTP request as Claude Code sends it
    head = f"{fx.get('method', 'POST')} {fx.get('path', '/v1/messages')} HTTP/1.1\r\n"
    for k, v in (fx.get('headers') or {}).items():
        head += f'{k}: {v}\r\n'
    head += f'content-length: {len(body)}\r\n\r\n'
    add('http_head', head.encode(), b'\x06\x00', b'\x06\x05', b'\x04\x21')
    add('tokens', fx['body'].get('messages', [{}])[-1].get('content', '')
        if isinstance(fx['body'].get('messages', [{}])[-1].get('content'), str) else '')
    # every tool schema, as the Gemini schema cleaner gets it (modes: default, all knobs)
    for t in fx['body'].get('tools') or []:
        if isinstance(t, dict) and 'input_schema' in t:
            add('gemini_schema', json.dumps(shrink(t['input_schema']), separators=(',', ':')),
                b'\x00', b'\x07')
# a subagent tag the scanner removes
add('summary', json.dumps({'model': 'claude-haiku-4-5', 'max_tokens': 100, 'system': [
    {'type': 'text', 'text': 'You are Claude Code.'},
    {'type': 'text', 'text': '<CCR-SUBAGENT-MODEL>openrouter,google/gemini-2.5-pro'
     '</CCR-SUBAGENT-MODEL> Explore.'}], 'messages': [{'role': 'user', 'content': [
         {'type': 'text', 'text': '<CCR-SUBAGENT-MODEL> deepseek,deepseek-chat '
          '</CCR-SUBAGENT-MODEL>find x'}]}],
    'metadata': {'user_id': 'user_abc_account__session_0b6f1c2d-1111-2222-3333-444455556666'},
    'thinking': {'type': 'enabled', 'budget_tokens': 5000}}), b'\x00', b'\x03')
for r in requests:
    add('tokens', r)
    add('jsonparse', r)
    add('summary', r, b'\x00')
    for fmt in ('anthropic', 'openai', 'gemini'):
        add(f'build_{fmt}', r, b'\x10')

# ---- HTTP heads, URLs, chunked bodies
add('http_head', 'GET /health HTTP/1.1\r\nHost: 127.0.0.1:3456\r\n\r\n'
    'POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
    'Connection: keep-alive\r\n\r\n', b'\x06\x00', b'\x06\x03')
add('http_head', '\r\nPOST /v1/messages/count_tokens?beta=true HTTP/1.0\nx-api-key: k\n'
    'Connection: keep-alive\nContent-Length: 12\n\n', b'\x02\x00')
add('http_head', 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n'
    'transfer-encoding: chunked\r\n\r\n', b'\x07\x00', b'\x07\x02')
add('http_head', 'HTTP/1.1 429 Too Many Requests\r\nretry-after: 17\r\ncontent-length: 0\r\n'
    'connection: close\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n', b'\x07\x00')
for u in ('https://api.anthropic.com/v1/messages', 'http://127.0.0.1:11434/v1/chat/completions',
          'https://[::1]:8443/x?y=1#frag', 'http://h?q', 'https://openrouter.ai/api/v1/chat/completions'):
    add('http_head', u, b'\x08\x00')
add('http_chunked', '4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n',
    b'\x00', b'\x01', b'\x2a')
add('http_chunked', '1a\r\n' + 'x' * 26 + '\r\n0\r\ntrailer: v\r\n\r\n', b'\x00', b'\x03')
add('http_chunked', 'ffffffffff\r\nabc', b'\x00')

# ---- config and JSON5
for path in sorted(glob.glob('config/*.json*')):
    data = open(path, 'rb').read()
    add('config', data)
    add('json5', data)
add('config', '''{
  // CCR's config, JSON5 and env interpolation
  APIKEY: "$FUZZ_KEY", LOG: true, LOG_LEVEL: 'debug', API_TIMEOUT_MS: 600000,
  Providers: [
    {name: 'openrouter', api_base_url: 'https://openrouter.ai/api/v1/chat/completions',
     api_key: '${OPENROUTER_API_KEY}', models: ['google/gemini-2.5-pro', 'anthropic/claude-sonnet-4'],
     transformer: {use: ['openrouter'], 'google/gemini-2.5-pro': {use: [['maxtoken', {max_tokens: 65536}]]}}},
    {name: 'deepseek', api_base_url: 'https://api.deepseek.com/chat/completions',
     api_key: ['$FUZZ_KEY', '${FUZZ_EMPTY}x', '$$literal'], models: ['deepseek-chat', 'deepseek-reasoner'],
     options: {reasoning_style: 'deepseek'}, model_options: {'deepseek-chat': {max_tokens: 8192}}},
    {name: 'gemini', api_base_url: 'https://generativelanguage.googleapis.com/v1beta/models/',
     api_key: '$FUZZ_QUOTE', models: ['gemini-2.5-flash'], format: 'gemini'},
    {name: 'ollama', api_base_url: 'http://localhost:11434/v1/chat/completions', api_key: 'ollama',
     models: ['qwen2.5-coder:latest',],},
  ],
  Router: {default: 'deepseek,deepseek-chat', background: 'ollama,qwen2.5-coder:latest',
           think: 'deepseek,deepseek-reasoner', longContext: 'openrouter,google/gemini-2.5-pro',
           longContextThreshold: 60000, webSearch: 'gemini,gemini-2.5-flash'},
  LIMITS: {connect_timeout_ms: 5000, max_body_bytes: 1048576, max_header_bytes: 8192, max_connections: 64},
  CUSTOM_ROUTER_PATH: '~/.ccrelay/router.lua', PROXY_URL: 'http://127.0.0.1:7890',
}''')
for lit in literals('tests/unit/test_config.c'):
    if lit.lstrip()[:1] in (b'{', b'/') and len(lit) > 10:
        add('config', lit)
for lit in literals('tests/unit/test_json5.c'):
    if len(lit) > 2:
        add('json5', lit)

# ---- LiteLLM YAML (the example and the YAML texts of its unit test)
for path in sorted(glob.glob('config/*.yaml')):
    add('litellm', open(path, 'rb').read())
for lit in literals('tests/unit/test_litellm.c'):
    if b'model_list' in lit or b'litellm_params' in lit or b'_settings' in lit:
        add('litellm', lit)

# ---- SSE and the stream translators
sse_inputs = streams.pop('sse', []) + [s for v in streams.values() for s in v]
for s in sse_inputs[:80]:
    add('sse', s, b'\x00\x00', b'\x01\x07', b'\x06\x01')
add('sse', ': comment\r\nevent: ping\r\ndata\r\n\r\nid: 1\nretry: 10\ndata: a\ndata:b\n\n'
    'data: c\r\rdata: d', b'\x00\x00', b'\x00\x01')
for fmt, lst in streams.items():
    for i, s in enumerate(lst):
        # provider and request variants, whole and split
        add(f'stream_{fmt}', s, bytes([i % 16 | (i % 3) << 4, 0]), bytes([(i + 1) % 16 | 0x10, 3]),
            bytes([(i + 2) % 16 | 0x20, 0x41]))
for fmt, lst in bodies.items():
    for i, b in enumerate(lst):
        add(f'response_{fmt}', b, bytes([i % 16 | (i % 4) << 4, 0]))
    for e in errors:
        add(f'response_{fmt}', e, b'\x40\x1d', b'\x40\x07', b'\x40\x00')
    add(f'response_{fmt}', '<html>502 Bad Gateway</html>', b'\x40\x08')
for s in streams['anthropic'][:20]:
    add('jsonscan', s.split(b'data: ', 1)[-1].split(b'\n')[0], b'\x01')

# ---- write
for t in list(corpus):
    d = os.path.join(out_root, t)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seen = set()
    for data in corpus[t]:
        h = hashlib.sha1(data).hexdigest()
        if h in seen or len(data) > 1 << 20:
            continue
        seen.add(h)
        with open(os.path.join(d, h[:16]), 'wb') as f:
            f.write(data)
    print(f'{t}: {len(seen)} seeds')
