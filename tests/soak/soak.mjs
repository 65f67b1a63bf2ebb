// The soak: ccrelay under a long mixed load on 127.0.0.1, bounded in time. Requests over the
// three wire formats (streamed and not, some failing upstream), clients that hang up
// mid-stream, and hot reloads of the config while requests are in flight. At the end:
//   - open file descriptors and resident memory within SOAK_TOLERANCE (10%) of their level
//     after the warm-up, measured in the same state (no client connection, upstream pool idle);
//   - every request accounted for in the log: one record per request, by status (200
//     answered, 4xx/5xx failed with `error=<reason>`, 499 cancelled by the client), matching
//     what the clients saw;
//   - every hang-up cut its upstream request, checked on the mock's side;
//   - a clean exit (under ASan: no leak, no error report).
// Environment: CCRELAY_BIN (binary), SOAK_QUICK=1 (a shorter run for CI under ASan),
// SOAK_REQUESTS / SOAK_DISCONNECTS / SOAK_RELOADS / SOAK_CONCURRENCY to override the counts.
import http from 'node:http';
import net from 'node:net';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  mockUpstream, spawnRelay, sse, anthropicTextEvents, oaiChunks, procStats, sleep, waitFor,
} from '../e2e/lib.mjs';

const QUICK = process.env.SOAK_QUICK === '1';
const N_REQ = Number(process.env.SOAK_REQUESTS || (QUICK ? 2000 : 10000));
const N_DISC = Number(process.env.SOAK_DISCONNECTS || (QUICK ? 200 : 1000));
const N_RELOAD = Number(process.env.SOAK_RELOADS || (QUICK ? 20 : 100));
const CONC = Number(process.env.SOAK_CONCURRENCY || 16);
const WARMUP = Math.min(1000, Math.floor(N_REQ / 10));
const TOL = Number(process.env.SOAK_TOLERANCE || 0.10);
const DEADLINE = Date.now() + Number(process.env.SOAK_MAX_SECONDS || (QUICK ? 110 : 300)) * 1000;

const t0 = Date.now();
const say = (...a) => console.log(`[soak ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
function fail(msg) { console.error(`SOAK FAILED: ${msg}`); process.exitCode = 1; throw new Error(msg); }

// ---- the mock upstream: three formats; 1 in 25 requests fails (alternately 500 and 429) ----
const gemSSE = (model) => [
  { candidates: [{ content: { role: 'model', parts: [{ text: 'Hello' }] } }] },
  { candidates: [{ content: { role: 'model', parts: [{ text: ' from Gemini' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 3 } },
].map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('');
const JSONS = {
  anthropic: (m) => ({ id: 'msg_1', type: 'message', role: 'assistant', model: m, content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } }),
  openai: (m) => ({ id: 'c', object: 'chat.completion', model: m, choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 1 } }),
  gemini: () => ({ candidates: [{ content: { role: 'model', parts: [{ text: 'hi' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1 } }),
};
const fmtOf = (url) => (url.startsWith('/v1/messages') ? 'anthropic' : url.includes('chat/completions') ? 'openai' : 'gemini');
const cut = { slow: 0, closedEarly: 0 };

const mock = await mockUpstream((req, res, rec) => {
  const fmt = fmtOf(req.url);
  const model = rec.body?.model || 'm';
  const tag = JSON.stringify(rec.body || {});
  rec.raw = null; // keep the mock's own memory flat over the run
  if (tag.includes('SOAK-FAIL')) {
    const status = tag.includes('SOAK-FAIL-429') ? 429 : 500;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `injected ${status}`, type: 'server_error' } }));
    return;
  }
  if (tag.includes('SOAK-SLOW')) { // a long stream: the client hangs up after its first bytes
    cut.slow++;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(fmt === 'anthropic' ? sse(anthropicTextEvents(model).slice(0, 2)) : fmt === 'openai' ? oaiChunks([{ role: 'assistant', content: 'x' }])[0] : gemSSE(model).split('\r\n\r\n')[0] + '\r\n\r\n');
    let n = 0;
    const t = setInterval(() => {
      if (res.destroyed) { clearInterval(t); return; }
      if (++n > 200) { clearInterval(t); res.end(); return; } // 10 s: never reached if the proxy cuts
      res.write(fmt === 'anthropic' ? sse([['ping', { type: 'ping' }]]) : ': keep-alive\n\n');
    }, 50);
    res.on('close', () => { clearInterval(t); if (!res.writableFinished) cut.closedEarly++; });
    return;
  }
  const stream = rec.body?.stream === true || req.url.includes('streamGenerateContent');
  if (stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(fmt === 'anthropic' ? sse(anthropicTextEvents(model)) : fmt === 'openai' ? oaiChunks([{ role: 'assistant', content: 'Hi' }, { content: ' there' }], { model }).join('') : gemSSE(model));
  } else {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(JSONS[fmt](model)));
  }
});
// the mock's record of requests is not needed here: keep the mock's memory flat
const requests = mock.requests;
setInterval(() => { requests.length = 0; }, 1000).unref();

const MODELS = ['ant,claude-up', 'oai,gpt-up', 'gem,gemini-2.5-flash'];
function config(gen) {
  return {
    LOG_LEVEL: 'info',
    API_TIMEOUT_MS: 20000,
    Providers: [
      { name: 'ant', api_base_url: mock.url('/v1/messages'), api_key: 'sk-soak-ant', models: ['claude-up', 'claude-up-2'] },
      { name: 'oai', api_base_url: mock.url('/v1/chat/completions'), api_key: 'sk-soak-oai', models: ['gpt-up'] },
      { name: 'gem', api_base_url: mock.url('/v1beta/models/'), api_key: 'AIzaSoak', models: ['gemini-2.5-flash'] },
    ],
    // each reload changes the routing a little, so each generation really differs
    Router: { default: gen % 2 ? 'ant,claude-up-2' : 'ant,claude-up', background: MODELS[gen % 3] },
  };
}

// Under ASan, freed memory waits in a quarantine (256 MB by default) before reuse, which reads
// as growth: keep it small so that the RSS comparison still means something.
const ASAN = readFileSync(process.env.CCRELAY_BIN || 'build/ccrelay').includes('__asan_init');
const asanEnv = ASAN ? { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'quarantine_size_mb=4', 'thread_local_quarantine_size_kb=256', 'allocator_release_to_os_interval_ms=100'].filter(Boolean).join(':') } : {};
const relay = await spawnRelay(config(0), { nofile: 4096, env: { CCRELAY_WATCH_POLL: '', ...asanEnv } });
const pid = relay.pid;
say(`ccrelay pid ${pid} on port ${relay.port}: ${N_REQ} requests, ${N_DISC} disconnects, ${N_RELOAD} reloads, concurrency ${CONC}`);

// ---- the clients ----
const seen = new Map(); // status -> count, as the clients saw them
const count = (s) => seen.set(s, (seen.get(s) || 0) + 1);
let agent = new http.Agent({ keepAlive: true, maxSockets: CONC });

function oneRequest(i) {
  const model = MODELS[i % 3];
  const stream = i % 10 < 7;
  const failTag = i % 25 === 7 ? (i % 50 === 7 ? ' SOAK-FAIL-429' : ' SOAK-FAIL-500') : '';
  const body = JSON.stringify({ model, max_tokens: 64, stream, messages: [{ role: 'user', content: `soak ${i}${failTag}` }] });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: relay.port, method: 'POST', path: '/v1/messages', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'anthropic-version': '2023-06-01' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200 && stream && !text.includes('event: message_stop')) reject(new Error(`request ${i}: a stream without message_stop:\n${text.slice(-400)}`));
        else if (res.statusCode !== 200 && !/"type":"error"/.test(text)) reject(new Error(`request ${i}: ${res.statusCode} without an Anthropic error: ${text.slice(0, 300)}`));
        else if (res.statusCode !== 200 && !failTag) reject(new Error(`request ${i}: unexpected ${res.statusCode}: ${text.slice(0, 300)}`));
        else { count(res.statusCode); resolve(); }
      });
      res.on('error', reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error(`request ${i} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

// A streamed request to the slow upstream, dropped after its first bytes.
let hungUp = 0;
function oneDisconnect(i) {
  const body = JSON.stringify({ model: MODELS[i % 3], max_tokens: 64, stream: true, messages: [{ role: 'user', content: `soak disconnect ${i} SOAK-SLOW` }] });
  return new Promise((resolve, reject) => {
    const s = net.connect(relay.port, '127.0.0.1');
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`disconnect ${i}: no first byte in 15 s`)); }, 15000);
    s.on('connect', () => s.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.includes('event: message_start')) { clearTimeout(timer); s.destroy(); hungUp++; resolve(); }
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

// Run `total` jobs with `conc` at a time; `between(done)` runs after each job.
async function pool(total, conc, job, between = async () => {}) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < total) {
      if (Date.now() > DEADLINE) fail(`over the time bound with ${done}/${total} done`);
      const i = next++;
      await job(i);
      done++;
      await between(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, total) }, worker));
}

const generation = () => { const m = [...relay.log().matchAll(/\(generation (\d+)\)/g)]; return m.length ? Number(m.at(-1)[1]) : 0; };
let reloads = 0;
let reloading = false;
async function reload() {
  if (reloading) return;
  reloading = true;
  const g = generation();
  const tmp = `${relay.cfgPath}.tmp`;
  writeFileSync(tmp, JSON.stringify(config(reloads + 1), null, 2));
  renameSync(tmp, relay.cfgPath); // like an editor's save
  try {
    await waitFor(() => generation() > g, 5000, `reload ${reloads + 1}`);
  } catch {
    process.kill(pid, 'SIGHUP'); // the watcher missed it: SIGHUP is the documented fallback
    await waitFor(() => generation() > g, 5000, `reload ${reloads + 1} on SIGHUP`);
  }
  reloads++;
  reloading = false;
}

// The same quiet state for both measurements: no client connection, the upstream pool empty.
async function quietStats(label) {
  agent.destroy();
  agent = new http.Agent({ keepAlive: true, maxSockets: CONC });
  // the proxy keeps idle upstream connections; the mock closes them after its keep-alive
  // timeout (5 s), which leaves the pool empty at both measurements
  await sleep(5500);
  let st = procStats(pid);
  for (let k = 0; k < 30; k++) { // settle: fds stop moving
    await sleep(200);
    const s2 = procStats(pid);
    if (s2.fds === st.fds) { st = s2; break; }
    st = s2;
  }
  say(`${label}: ${st.fds} open fds, VmRSS ${st.rssKB} kB`);
  return st;
}

try {
  // warm-up
  await pool(WARMUP, CONC, oneRequest);
  await pool(Math.min(50, N_DISC), 8, oneDisconnect);
  await reload();
  const base = await quietStats('after warm-up');

  // the run: requests, with reloads spread over it and disconnects in parallel
  const reloadEvery = Math.max(1, Math.floor((N_REQ - WARMUP) / Math.max(1, N_RELOAD - 1)));
  await Promise.all([
    pool(N_REQ - WARMUP, CONC, (i) => oneRequest(i + WARMUP), async (done) => {
      if (done % reloadEvery === 0 && reloads < N_RELOAD) await reload();
    }),
    pool(N_DISC - Math.min(50, N_DISC), 8, (i) => oneDisconnect(i + 50)),
  ]);
  while (reloads < N_RELOAD) await reload();
  say(`load done: ${[...seen].map(([s, n]) => `${n}x${s}`).join(' ')}, ${hungUp} hang-ups, ${reloads} reloads`);

  // every hang-up cut its upstream stream
  await waitFor(() => cut.closedEarly >= N_DISC, 10000, `${N_DISC} upstream cuts (have ${cut.closedEarly})`).catch(() => fail(`only ${cut.closedEarly} of ${N_DISC} slow upstream streams were cut when their client left`));

  const end = await quietStats('at the end');
  const over = (a, b) => (a - b) / b;
  if (over(end.fds, base.fds) > TOL) fail(`open fds went from ${base.fds} to ${end.fds}`);
  if (over(end.rssKB, base.rssKB) > TOL) fail(`VmRSS went from ${base.rssKB} kB to ${end.rssKB} kB`);

  // the accounting: one record per request, by status
  const log = relay.log();
  const recs = [...log.matchAll(/^.* POST \/v1\/messages model=.* status=(\d+) .*$/gm)];
  const byStatus = new Map();
  for (const m of recs) byStatus.set(Number(m[1]), (byStatus.get(Number(m[1])) || 0) + 1);
  const expected = new Map(seen);
  expected.set(499, (expected.get(499) || 0) + N_DISC);
  const total = N_REQ + N_DISC;
  if (recs.length !== total) fail(`${recs.length} request records in the log for ${total} requests`);
  for (const [s, n] of expected) if (byStatus.get(s) !== n) fail(`status ${s}: the clients saw ${n}, the log has ${byStatus.get(s) || 0}`);
  for (const m of recs) if (m[1] !== '200' && !/ error=\S/.test(m[0])) fail(`a failed request without its reason: ${m[0]}`);
  say(`log: ${recs.length} records, ${[...byStatus].map(([s, n]) => `${n}x${s}`).join(' ')}; fds ${base.fds} -> ${end.fds}, VmRSS ${base.rssKB} -> ${end.rssKB} kB`);
} finally {
  agent.destroy();
  try { await relay.stop(); } catch (e) { console.error(e.message); process.exitCode = 1; }
  await mock.close();
}
if (process.exitCode) process.exit(process.exitCode);
say('SOAK PASSED');
process.exit(0);
