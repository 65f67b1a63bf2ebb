// Shared helpers of the end-to-end tests: run the real ccrelay binary against mock upstreams
// on 127.0.0.1, and talk to it as Claude Code does. Everything is bounded in time.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const BIN = process.env.CCRELAY_BIN || path.resolve('build/ccrelay');
export const SHARED = process.env.CCRELAY_SHARED || path.resolve('../shared');

export function tmpdir(prefix = 'ccrelay-e2e-') {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Every captured Claude Code request of both versions: {name, method, path, headers, body}.
export function fixtures() {
  const out = [];
  for (const dir of ['claude-code', 'claude-code-2.1.331']) {
    const d = path.join(SHARED, 'fixtures', dir);
    for (const f of readdirSync(d).filter((f) => f.endsWith('.json')).sort()) {
      const j = JSON.parse(readFileSync(path.join(d, f), 'utf8'));
      out.push({ name: `${dir}/${f}`, ...j });
    }
  }
  return out;
}

// A mock upstream: `handler(req, res, body)` answers; every request is recorded.
export async function mockUpstream(handler) {
  const requests = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const rec = { method: req.method, url: req.url, headers: req.headers, raw,
        remotePort: req.socket.remotePort, closed: null, finished: false };
      try { rec.body = JSON.parse(raw.toString('utf8')); } catch { rec.body = null; }
      requests.push(rec);
      res.on('close', () => { rec.closed = Date.now(); });
      res.on('finish', () => { rec.finished = true; });
      handler(req, res, rec);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.keepAliveTimeout = 5000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port, requests,
    url: (p) => `http://127.0.0.1:${port}${p}`,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

// Start `ccrelay serve` with `config` (an object) on a free port; resolves once it listens.
// (spawnRelay below, with the defaults of most tests.)
export async function startRelay(config, { env = {}, args = [] } = {}) {
  return spawnRelay(config, { env, args, killAfterMs: 5000 });
}

// One HTTP request; resolves {status, headers, body (string)}. `raw` sends bytes as they are.
export function request(port, { method = 'POST', path: p = '/v1/messages?beta=true', headers = {}, body, timeoutMs = 15000, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : (typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    const h = { ...headers };
    if (data !== undefined) h['content-length'] = Buffer.byteLength(data);
    if (data !== undefined && !h['content-type']) h['content-type'] = 'application/json';
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// Parse an SSE body into [{event, data (string)}].
export function parseSSE(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    let event = '';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const f = i < 0 ? line : line.slice(0, i);
      let v = i < 0 ? '' : line.slice(i + 1);
      if (v.startsWith(' ')) v = v.slice(1);
      if (f === 'event') event = v;
      else if (f === 'data') data.push(v);
    }
    events.push({ event, data: data.join('\n') });
  }
  return events;
}

// Write an Anthropic SSE stream; `events` = [[name, obj|string], ...].
export function sse(events) {
  return events.map(([e, d]) => `event: ${e}\ndata: ${typeof d === 'string' ? d : JSON.stringify(d)}\n\n`).join('');
}

// A typical Anthropic answer as SSE events, for `model`.
export function anthropicTextEvents(model, text = 'Hello from the mock.') {
  return [
    ['message_start', { type: 'message_start', message: { id: 'msg_01XYZ', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1234, output_tokens: 1, cache_read_input_tokens: 1000 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['ping', { type: 'ping' }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: text.slice(0, 5) } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: text.slice(5) } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 7 } }],
    ['message_stop', { type: 'message_stop' }],
  ];
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// Wait until fn() is truthy, polling; throws after timeoutMs.
export async function waitFor(fn, timeoutMs = 5000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// A TCP port with nothing listening (bound then closed).
export async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

// A config with one Anthropic-format provider pointing at `mock`.
export function anthropicConfig(mock, extra = {}) {
  return {
    LOG_LEVEL: 'debug',
    Providers: [{ name: 'mockant', api_base_url: mock.url('/v1/messages'), api_key: 'sk-upstream-secret-123', models: ['upstream-model', 'other-model'] }],
    Router: { default: 'mockant,upstream-model' },
    ...extra,
  };
}

// Check that `events` (parseSSE output) follow Anthropic's stream grammar exactly: message_start
// first; blocks opened, delta'd and closed in order with consecutive indices from 0; deltas of
// the block's kind; message_delta, then message_stop last; pings anywhere. Returns the assembled
// message {content:[...], stop_reason, usage}.
export function checkAnthropicStream(events) {
  const errs = [];
  const real = events.filter((e) => e.event !== 'ping');
  if (real[0]?.event !== 'message_start') errs.push(`first event is ${real[0]?.event}`);
  if (real.at(-1)?.event !== 'message_stop') errs.push(`last event is ${real.at(-1)?.event}`);
  const msg = { content: [], stop_reason: null, usage: null };
  let open = null;
  let sawDelta = false;
  for (const e of real) {
    let d;
    try { d = JSON.parse(e.data); } catch { errs.push(`bad JSON in ${e.event}: ${e.data}`); continue; }
    if (d.type !== e.event) errs.push(`event ${e.event} carries type ${d.type}`);
    switch (e.event) {
      case 'message_start':
        msg.id = d.message.id; msg.model = d.message.model; msg.start_usage = d.message.usage; break;
      case 'content_block_start':
        if (open !== null) errs.push(`block ${d.index} opened while ${open} is open`);
        if (d.index !== msg.content.length) errs.push(`block index ${d.index}, expected ${msg.content.length}`);
        open = d.index;
        msg.content.push({ ...d.content_block, _json: '' });
        break;
      case 'content_block_delta': {
        if (d.index !== open) { errs.push(`delta for ${d.index} while ${open} is open`); break; }
        const b = msg.content[open];
        const t = d.delta.type;
        if (t === 'text_delta' && b.type === 'text') b.text += d.delta.text;
        else if (t === 'input_json_delta' && b.type === 'tool_use') b._json += d.delta.partial_json;
        else if (t === 'thinking_delta' && b.type === 'thinking') b.thinking += d.delta.thinking;
        else if (t === 'signature_delta' && b.type === 'thinking') b.signature = (b.signature || '') + d.delta.signature;
        else errs.push(`${t} in a ${b.type} block`);
        break;
      }
      case 'content_block_stop':
        if (d.index !== open) errs.push(`stop for ${d.index} while ${open} is open`);
        open = null;
        break;
      case 'message_delta':
        if (open !== null) errs.push('message_delta with a block open');
        sawDelta = true; msg.stop_reason = d.delta.stop_reason; msg.usage = d.usage; break;
      case 'message_stop': break;
      case 'error': errs.push(`error event: ${e.data}`); break;
      default: errs.push(`unknown event ${e.event}`);
    }
  }
  if (!sawDelta) errs.push('no message_delta');
  for (const b of msg.content) {
    if (b.type === 'tool_use') {
      try { b.input = b._json === '' ? {} : JSON.parse(b._json); } catch { errs.push(`tool input is not JSON: ${b._json}`); }
    }
    delete b._json;
  }
  if (errs.length) throw new Error(`invalid Anthropic stream:\n  ${errs.join('\n  ')}\n${events.map((e) => `${e.event}: ${e.data}`).join('\n')}`);
  return msg;
}

// Chat Completions SSE chunks from a list of deltas; `finish` is the finish_reason.
export function oaiChunks(deltas, { finish = 'stop', usage = { prompt_tokens: 1200, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 1000 } }, model = 'm' } = {}) {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model };
  const out = deltas.map((d) => `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: d, finish_reason: null }] })}\n\n`);
  out.push(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] })}\n\n`);
  if (usage) out.push(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  out.push('data: [DONE]\n\n');
  return out;
}

// ---- helpers of the fault, hostile-client, secrets and soak suites ----

// Like startRelay, with a raised open-file limit (`nofile`, through the shell's ulimit, since
// node cannot set a child's rlimits) and the binary to run (`bin`). child.pid is ccrelay's own
// pid (the shell execs it), so /proc/<pid> reads the proxy.
export async function spawnRelay(config, { env = {}, args = [], nofile = 0, bin = BIN, killAfterMs = 10000 } = {}) {
  const dir = tmpdir();
  const cfgPath = path.join(dir, 'config.json');
  writeFileSync(cfgPath, JSON.stringify(config, null, 2));
  const argv = ['serve', '--config', cfgPath, '--port', '0', ...args];
  const child = nofile > 0
    ? spawn('/bin/sh', ['-c', `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, bin, ...argv],
      { env: { ...process.env, HOME: dir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, argv, { env: { ...process.env, HOME: dir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (d) => { log += d; };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ccrelay did not start:\n${log}`)), 10000);
    const check = () => {
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`ccrelay exited ${code}:\n${log}`)); });
  });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  return {
    port, dir, cfgPath, child, pid: child.pid,
    log: () => log,
    url: (p) => `http://127.0.0.1:${port}${p}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      const r = await exited;
      clearTimeout(t);
      if (r.code !== 0) throw new Error(`ccrelay exited with ${r.code ?? r.sig}:\n${log.slice(-4000)}`);
      return r;
    },
  };
}

// Resident memory (kB) and open file descriptors of a process, from /proc.
export function procStats(pid) {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = st.match(/^VmRSS:\s+(\d+)\s+kB/m);
  return { rssKB: m ? Number(m[1]) : NaN, fds: readdirSync(`/proc/${pid}/fd`).length };
}

// A raw TCP exchange: connect, let `drive(socket)` write, collect what comes back until the
// peer closes or timeoutMs passes. Resolves {data (string), closed (bool), ms}.
export function rawExchange(port, drive, { timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const chunks = [];
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => { s.destroy(); resolve({ data: Buffer.concat(chunks).toString('utf8'), closed: false, ms: Date.now() - t0 }); }, timeoutMs);
    s.on('connect', () => drive(s));
    s.on('data', (c) => chunks.push(c));
    s.on('error', (e) => { if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') { clearTimeout(timer); reject(e); } });
    s.on('close', () => { clearTimeout(timer); resolve({ data: Buffer.concat(chunks).toString('utf8'), closed: true, ms: Date.now() - t0 }); });
  });
}

// The body of an HTTP/1.1 response as read raw (chunked transfer decoded), and its status.
export function parseRawResponse(text) {
  const i = text.indexOf('\r\n\r\n');
  if (i < 0) return { status: 0, head: text, body: '' };
  const head = text.slice(0, i);
  const status = Number((head.match(/^HTTP\/1\.1 (\d{3})/) || [])[1] || 0);
  let body = text.slice(i + 4);
  if (/transfer-encoding:\s*chunked/i.test(head)) {
    let out = '';
    let rest = body;
    for (;;) {
      const j = rest.indexOf('\r\n');
      if (j < 0) break;
      const n = parseInt(rest.slice(0, j), 16);
      if (!(n > 0)) break;
      out += rest.slice(j + 2, j + 2 + n);
      rest = rest.slice(j + 2 + n + 2);
    }
    body = out;
  }
  return { status, head, body };
}
