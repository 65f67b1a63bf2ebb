// Fault injection: mock upstreams on 127.0.0.1 that fail in every way the issue lists, for each
// of the three wire formats (anthropic pass-through, openai, gemini). Every case ends with an
// Anthropic-shaped error to the client where one is still listening, the upstream request is
// cut when the client leaves, and the process keeps serving. (Already covered elsewhere and not
// repeated here: foundation.test.mjs has refused connections, resets before the status line and
// mid-stream, stalls before the first byte and mid-stream, a hang-up mid-stream, 401, HTML 502.)
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import {
  mockUpstream, spawnRelay, request, parseSSE, sse, anthropicTextEvents, oaiChunks, tmpdir,
  waitFor, sleep, procStats, rawExchange, parseRawResponse,
} from './lib.mjs';

const FORMATS = ['anthropic', 'openai', 'gemini'];
const MODEL = { anthropic: 'ant,claude-up', openai: 'oai,gpt-up', gemini: 'gem,gemini-2.5-flash' };

function formatOf(url) {
  if (url.startsWith('/v1/messages')) return 'anthropic';
  if (url.includes('chat/completions')) return 'openai';
  return 'gemini';
}

const gemChunk = (text, finish) => ({ candidates: [{ content: { role: 'model', parts: [{ text }] }, ...(finish ? { finishReason: 'STOP' } : {}) }],
  ...(finish ? { usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 2, totalTokenCount: 12 } } : {}) });

// A well-formed streamed answer in each format, as a list of SSE event strings.
function goodEvents(fmt, model) {
  if (fmt === 'anthropic') return anthropicTextEvents(model).map((e) => sse([e]));
  if (fmt === 'openai') return oaiChunks([{ role: 'assistant', content: 'Hello' }, { content: ' there' }], { model });
  return [gemChunk('Hello'), gemChunk(' there', true)].map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`);
}

// A well-formed non-streamed answer in each format.
function goodJSON(fmt, model) {
  if (fmt === 'anthropic') return { id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } };
  if (fmt === 'openai') return { id: 'c1', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } };
  return { candidates: [{ content: { role: 'model', parts: [{ text: 'hi' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1 } };
}

const body = (fmt, extra = {}) => ({ model: MODEL[fmt], max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'Say hello' }], ...extra });

// The client got a clear error in Anthropic's shape: an error status with {type:"error",...},
// or, once the stream had started, a final `event: error`. Returns the error object.
function anthropicError(r, what) {
  if (r.status !== 200) {
    let j;
    try { j = JSON.parse(r.body); } catch { assert.fail(`${what}: ${r.status} with a body that is not JSON: ${r.body.slice(0, 300)}`); }
    assert.equal(j.type, 'error', `${what}: ${r.body.slice(0, 300)}`);
    assert.equal(typeof j.error?.type, 'string');
    assert.ok(j.error.message.length > 0);
    assert.doesNotMatch(j.error.message, /sk-|AIza/, `${what}: a key in the message`);
    return { status: r.status, ...j.error };
  }
  const ev = parseSSE(r.body);
  const last = ev.at(-1);
  assert.equal(last?.event, 'error', `${what}: the stream ended with ${last?.event}, not an error event:\n${r.body.slice(0, 600)}`);
  const j = JSON.parse(last.data);
  assert.equal(j.type, 'error');
  assert.ok(j.error.message.length > 0);
  assert.equal(ev.filter((e) => e.event === 'message_stop').length, 0, `${what}: message_stop before the error`);
  return { status: 200, ...j.error };
}

let plan = null; // (rec, fmt, req, res) => void: what the mock does for the next requests
let mock, relay;

function providers(m, extra = {}) {
  return [
    { name: 'ant', api_base_url: m.url('/v1/messages'), api_key: 'sk-ant-faults-secret', models: ['claude-up'], ...extra },
    { name: 'oai', api_base_url: m.url('/v1/chat/completions'), api_key: 'sk-oai-faults-secret', models: ['gpt-up'], ...extra },
    { name: 'gem', api_base_url: m.url('/v1beta/models/'), api_key: 'AIzaFaultsSecret', models: ['gemini-2.5-flash'], ...extra },
  ];
}

async function servesStill(fmt = 'anthropic') {
  const saved = plan;
  plan = null;
  try {
    const r = await request(relay.port, { body: body(fmt) });
    assert.equal(r.status, 200, `the proxy no longer serves: ${r.body.slice(0, 300)}`);
    assert.equal(parseSSE(r.body).at(-1).event, 'message_stop');
  } finally { plan = saved; }
}

before(async () => {
  mock = await mockUpstream(async (req, res, rec) => {
    const fmt = formatOf(req.url);
    rec.fmt = fmt;
    if (plan) return plan(rec, fmt, req, res);
    if (rec.body?.stream || req.url.includes('streamGenerateContent')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(goodEvents(fmt, rec.body?.model).join(''));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(goodJSON(fmt, rec.body?.model)));
    }
  });
  relay = await spawnRelay({ LOG_LEVEL: 'info', API_TIMEOUT_MS: 1500, Providers: providers(mock), Router: { default: MODEL.anthropic } });
});
after(async () => { await relay.stop(); await mock.close(); });

describe('malformed upstream streams', () => {
  const GARBAGE = [
    ['binary garbage', () => Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x0a, 0x0a, 0x80, 0x81, 0x0a, 0x0a])],
    ['data that is not JSON', () => 'data: {"this is": not json at all\n\ndata: }}}}\n\n'],
    ['JSON events of the wrong shape', () => 'data: [1,2,3]\n\ndata: "a string"\n\ndata: {"candidates":"nope","choices":7,"type":42}\n\n'],
    ['an endless line without a newline, then EOF', () => 'data: ' + 'x'.repeat(200000)],
  ];
  for (const fmt of FORMATS) {
    for (const [name, bytes] of GARBAGE) {
      test(`${fmt}: ${name} becomes a clean error`, async () => {
        plan = (rec, f, req, res) => { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.end(bytes()); };
        const r = await request(relay.port, { body: body(fmt) });
        const e = anthropicError(r, `${fmt} ${name}`);
        assert.ok(e.status === 200 || e.status >= 500, `status ${e.status}`);
        await servesStill(fmt);
      });
    }

    test(`${fmt}: a stream cut after its first events, ended cleanly by the upstream, is an error, not a silent end`, async () => {
      plan = (rec, f, req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const ev = goodEvents(f, rec.body?.model);
        // stop before the format's own end marker: message_delta, finish_reason, finishReason
        res.end(ev.slice(0, { anthropic: 4, openai: 2, gemini: 1 }[f]).join(''));
      };
      const r = await request(relay.port, { body: body(fmt) });
      const e = anthropicError(r, `${fmt} truncated`);
      assert.equal(e.status, 200);
      await servesStill(fmt);
    });

    test(`${fmt}: a stream cut in the middle of an event is an error`, async () => {
      plan = (rec, f, req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const ev = goodEvents(f, rec.body?.model);
        const k = Math.min(2, ev.length - 1);
        const all = ev.slice(0, k).join('') + ev[k].slice(0, 25);
        res.end(all);
      };
      const r = await request(relay.port, { body: body(fmt) });
      anthropicError(r, `${fmt} mid-event`);
      await servesStill(fmt);
    });

    test(`${fmt}: a reset right after the response headers is a 502 naming the provider`, async () => {
      plan = (rec, f, req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        setTimeout(() => res.socket.destroy(), 30);
      };
      const r = await request(relay.port, { body: body(fmt) });
      const e = anthropicError(r, `${fmt} reset after headers`);
      assert.equal(e.status, 502, JSON.stringify(e));
      assert.match(e.message, new RegExp(MODEL[fmt].split(',')[0]));
      await servesStill(fmt);
    });

    test(`${fmt}: a reset in the middle of an event ends the stream with an error event`, async () => {
      plan = (rec, f, req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const ev = goodEvents(f, rec.body?.model);
        const k = Math.min(2, ev.length - 1);
        res.write(ev.slice(0, k).join('') + ev[k].slice(0, 25));
        setTimeout(() => res.socket.destroy(), 30);
      };
      const r = await request(relay.port, { body: body(fmt) });
      const e = anthropicError(r, `${fmt} reset mid-event`);
      assert.equal(e.status, 200);
      assert.match(e.message, /closed|reset/i);
      await servesStill(fmt);
    });

    test(`${fmt}: an event of 10 MB is relayed or refused cleanly, within bounded memory`, async () => {
      const big = 'A'.repeat(10 * 1024 * 1024);
      plan = (rec, f, req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const model = rec.body?.model;
        let ev;
        if (f === 'anthropic') {
          const e = anthropicTextEvents(model);
          e[3] = ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: big } }];
          ev = e.map((x) => sse([x]));
        } else if (f === 'openai') {
          ev = oaiChunks([{ role: 'assistant', content: big }], { model });
        } else {
          ev = [gemChunk(big, true)].map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`);
        }
        res.end(ev.join(''));
      };
      const before = procStats(relay.pid).rssKB;
      const r = await request(relay.port, { body: body(fmt), timeoutMs: 30000 });
      if (r.status === 200 && parseSSE(r.body).at(-1)?.event === 'message_stop') {
        const text = parseSSE(r.body).filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta.text || '').join('');
        assert.ok(text.includes(big), `${fmt}: the 10 MB text arrived incomplete (${text.length} chars)`);
      } else {
        anthropicError(r, `${fmt} 10 MB event`);
      }
      const grew = procStats(relay.pid).rssKB - before;
      assert.ok(grew < 120 * 1024, `${fmt}: resident memory grew by ${grew} kB for one 10 MB event`);
      await servesStill(fmt);
    });
  }
});

describe('answers that are not what the format promises', () => {
  const CASES = [
    ['a JSON array', '[1,2,3]'],
    ['an object of another format', '{"object":"list","data":[]}'],
    ['a truncated JSON object', '{"id":"x","choices":[{"message":{"content":"hi"'],
    ['an empty body', ''],
    ['JSON null', 'null'],
  ];
  for (const fmt of FORMATS) {
    for (const [name, text] of CASES) {
      test(`${fmt}: a 200 non-streamed answer that is ${name} is a 502 api_error`, async () => {
        plan = (rec, f, req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(text); };
        const r = await request(relay.port, { body: body(fmt, { stream: false }) });
        const e = anthropicError(r, `${fmt} ${name}`);
        assert.ok(e.status >= 500, `${fmt} ${name}: status ${e.status}: ${r.body}`);
        await servesStill(fmt);
      });
    }
    test(`${fmt}: a stream request answered with a JSON object of the wrong shape is an error`, async () => {
      plan = (rec, f, req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"unexpected":{"shape":true}}'); };
      const r = await request(relay.port, { body: body(fmt) });
      anthropicError(r, `${fmt} JSON instead of SSE`);
      await servesStill(fmt);
    });
  }
});

describe('429 / 500 / 529 with and without retry-after', () => {
  for (const fmt of FORMATS) {
    for (const status of [429, 500, 529]) {
      for (const ra of [null, '3']) {
        test(`${fmt}: ${status} ${ra ? 'with' : 'without'} retry-after`, async () => {
          plan = (rec, f, req, res) => {
            res.writeHead(status, { 'content-type': 'application/json', ...(ra ? { 'retry-after': ra } : {}) });
            res.end(JSON.stringify(f === 'anthropic'
              ? { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'overloaded_error', message: `upstream ${status}` } }
              : { error: { code: status, message: `upstream ${status}`, status: 'UNAVAILABLE' } }));
          };
          const r = await request(relay.port, { body: body(fmt) });
          const e = anthropicError(r, `${fmt} ${status}`);
          if (status === 429) { assert.equal(r.status, 429); assert.equal(e.type, 'rate_limit_error'); }
          else assert.ok([500, 502, 503, 529].includes(r.status), `${fmt} ${status} answered ${r.status}`);
          if (status === 529) assert.equal(e.type, 'overloaded_error', JSON.stringify(e));
          assert.match(e.message, /upstream \d{3}|ant|oai|gem/);
          if (ra) {
            assert.equal(r.headers['retry-after'], ra, `${fmt} ${status}: retry-after not passed on`);
            assert.equal(r.headers['retry-after-ms'], String(Number(ra) * 1000));
          } else {
            assert.equal(r.headers['retry-after'], undefined, `${fmt} ${status}: a retry-after made up`);
          }
          await servesStill(fmt);
        });
      }
    }
  }
});

describe('clients that hang up at every stage', () => {
  // Send a request by hand; `stage(sock)` decides when to hang up.
  function rawRequest(b, { partial = false } = {}) {
    const data = JSON.stringify(b);
    const s = net.connect(relay.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => {
      const head = `POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n`;
      s.write(partial ? head + data.slice(0, 20) : head + data);
    });
    return s;
  }

  test('before the body is complete: nothing reaches the upstream and the log counts nothing', async () => {
    plan = null;
    const n = mock.requests.length;
    const s = rawRequest(body('openai'), { partial: true });
    await sleep(150);
    s.destroy();
    await sleep(200);
    assert.equal(mock.requests.length, n);
    await servesStill('openai');
  });

  for (const fmt of FORMATS) {
    test(`${fmt}: while waiting for the first byte, the upstream request is cancelled at once`, async () => {
      plan = () => {}; // never answers
      const n = mock.requests.length;
      const s = rawRequest(body(fmt));
      const rec = await waitFor(() => mock.requests[n], 3000, 'the upstream request');
      s.destroy();
      const gone = Date.now();
      await waitFor(() => rec.closed, 2000, 'the upstream request to be cut');
      assert.ok(rec.closed - gone < 500, `cut ${rec.closed - gone} ms after the client left`);
      assert.equal(rec.finished, false);
      await waitFor(() => /status=499/.test(relay.log()), 2000, 'a 499 record');
      await servesStill(fmt);
    });

    test(`${fmt}: mid-stream, the upstream request is cancelled at once`, async () => {
      plan = (rec, f, req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const ev = goodEvents(f, rec.body?.model);
        res.write(ev[0]);
        const t = setInterval(() => { if (res.destroyed) clearInterval(t); else res.write(f === 'anthropic' ? sse([['ping', { type: 'ping' }]]) : ': keep-alive\n\n'); }, 50);
      };
      const n = mock.requests.length;
      const s = rawRequest(body(fmt));
      await new Promise((r) => s.once('data', r));
      const rec = mock.requests[n];
      s.destroy();
      const gone = Date.now();
      await waitFor(() => rec.closed, 2000, 'the upstream stream to be cut');
      assert.ok(rec.closed - gone < 500, `cut ${rec.closed - gone} ms after the client left`);
      await servesStill(fmt);
    });
  }
});

describe('a client that stops reading', () => {
  const z = 'z'.repeat(64 * 1024);
  const CHUNK = {
    anthropic: sse([['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: z } }]]),
    openai: `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: z }, finish_reason: null }] })}\n\n`,
    gemini: `data: ${JSON.stringify(gemChunk(z))}\r\n\r\n`,
  };
  for (const fmt of FORMATS) test(`${fmt}: memory stays bounded, the upstream is paused, and a hang-up cuts it`, async () => {
    const chunk = CHUNK[fmt];
    const start = fmt === 'anthropic' ? anthropicTextEvents('claude-up').slice(0, 2).map((e) => sse([e])).join('') : goodEvents(fmt, 'm')[0];
    let written = 0;
    let rec = null;
    plan = (r, f, req, res) => {
      rec = r;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(start);
      const pump = () => {
        while (!res.destroyed && written < 400 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) { res.once('drain', pump); return; }
        }
      };
      pump();
    };
    const rss0 = procStats(relay.pid).rssKB;
    const s = rawRequest(body(fmt));
    s.pause(); // reads nothing more from the kernel
    await waitFor(() => rec, 3000, 'the upstream request');
    await sleep(1500);
    const w1 = written;
    await sleep(1000);
    const w2 = written;
    const grew = procStats(relay.pid).rssKB - rss0;
    assert.ok(w2 - w1 < 4 * 1024 * 1024, `the upstream kept sending ${(w2 - w1) >> 10} kB/s to a client that reads nothing`);
    assert.ok(w2 < 64 * 1024 * 1024, `${w2 >> 20} MB written upstream before back-pressure`);
    assert.ok(grew < 32 * 1024, `resident memory grew by ${grew} kB`);
    s.destroy();
    const gone = Date.now();
    await waitFor(() => rec.closed, 2000, 'the upstream stream to be cut');
    assert.ok(rec.closed - gone < 1000);
    await servesStill(fmt);
  });

  function rawRequest(b) {
    const data = JSON.stringify(b);
    const s = net.connect(relay.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => s.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`));
    return s;
  }
});

describe('TLS faults', () => {
  let dir, ca, servers = [], tlsRelay;
  const conns = { stall: [] };

  function sh(args, cwd) { execFileSync('openssl', args, { cwd, stdio: 'pipe' }); }
  function leaf(name, san) {
    sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`], dir);
    writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
    sh(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`], dir);
    return { key: readFileSync(path.join(dir, `${name}.key`)), cert: readFileSync(path.join(dir, `${name}.pem`)) };
  }
  async function listen(srv) { await new Promise((r) => srv.listen(0, '127.0.0.1', r)); servers.push(srv); return srv.address().port; }
  function answer(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.end(goodEvents('anthropic', 'claude-up').join('')); });
  }

  before(async () => {
    dir = tmpdir('ccrelay-tls-');
    sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ccrelay test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    ca = path.join(dir, 'ca.pem');
    const good = leaf('good', 'IP:127.0.0.1,DNS:localhost');
    const wrong = leaf('wrong', 'DNS:not-this-host.example');
    // a certificate from a CA ccrelay does not trust
    const rogueDir = tmpdir('ccrelay-rogue-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: rogueDir, stdio: 'pipe' });
    const rogue = { key: readFileSync(path.join(rogueDir, 'k.pem')), cert: readFileSync(path.join(rogueDir, 'c.pem')) };

    const pGood = await listen(https.createServer(good, answer));
    const pWrong = await listen(https.createServer(wrong, answer));
    const pRogue = await listen(https.createServer(rogue, answer));
    // not TLS at all: answers the ClientHello with plain-text HTTP
    const pPlain = await listen(net.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')); }));
    // accepts the TCP connection and never answers the ClientHello
    const pStall = await listen(net.createServer((s) => { s.on('error', () => {}); s.resume(); const rec = { closed: null }; conns.stall.push(rec); s.on('close', () => { rec.closed = Date.now(); }); }));

    const p = (name, port, host = '127.0.0.1') => ({ name, api_base_url: `https://${host}:${port}/v1/messages`, api_key: `sk-${name}-secret`, models: ['claude-up'] });
    tlsRelay = await spawnRelay({
      LOG_LEVEL: 'info', API_TIMEOUT_MS: 3000, LIMITS: { connect_timeout_ms: 800 },
      Providers: [p('good', pGood), p('goodname', pGood, 'localhost'), p('wrongname', pWrong), p('rogue', pRogue), p('plain', pPlain), p('stall', pStall)],
      Router: { default: 'good,claude-up' },
    }, { env: { CCRELAY_CA_FILE: ca } });
  });
  after(async () => {
    await tlsRelay.stop();
    for (const s of servers) { s.closeAllConnections?.(); await new Promise((r) => s.close(r)); }
  });

  const ask = (model) => request(tlsRelay.port, { body: { model, max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] } });

  test('a certificate of the local CA, for the right address or name, is accepted', async () => {
    for (const m of ['good,claude-up', 'goodname,claude-up']) {
      const r = await ask(m);
      assert.equal(r.status, 200, `${m}: ${r.body}`);
      assert.equal(parseSSE(r.body).at(-1).event, 'message_stop');
    }
  });

  test('a certificate whose host name does not match is refused with a 502 that says so', async () => {
    const r = await ask('wrongname,claude-up');
    const e = anthropicError(r, 'host name mismatch');
    assert.equal(r.status, 502);
    assert.equal(e.type, 'api_error');
    assert.match(e.message, /wrongname/);
    assert.match(e.message, /certificate|TLS/i);
    assert.match(e.message, /mismatch|host|IP address/i);
  });

  test('a certificate of an unknown CA is refused', async () => {
    const r = await ask('rogue,claude-up');
    const e = anthropicError(r, 'unknown CA');
    assert.equal(r.status, 502);
    assert.match(e.message, /certificate|TLS/i);
  });

  test('a peer that does not speak TLS fails the handshake with a clean 502', async () => {
    const r = await ask('plain,claude-up');
    const e = anthropicError(r, 'handshake failure');
    assert.equal(r.status, 502);
    assert.match(e.message, /TLS|plain|handshake|SSL/i);
  });

  test('a handshake that stalls hits the connect timeout, with its own message', async () => {
    const t0 = Date.now();
    const r = await ask('stall,claude-up');
    const e = anthropicError(r, 'stalled handshake');
    assert.equal(r.status, 504);
    assert.equal(e.type, 'timeout_error');
    assert.match(e.message, /connect/);
    assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms with connect_timeout_ms 800`);
  });

  test('a client that hangs up while the upstream connects cancels the connection at once', async () => {
    const n = conns.stall.length;
    const data = JSON.stringify({ model: 'stall,claude-up', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const s = net.connect(tlsRelay.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => s.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${data.length}\r\n\r\n${data}`));
    const rec = await waitFor(() => conns.stall[n], 2000, 'the upstream connection');
    s.destroy();
    const gone = Date.now();
    await waitFor(() => rec.closed, 1500, 'the upstream connection to close');
    assert.ok(rec.closed - gone < 400, `closed ${rec.closed - gone} ms after the client left (connect timeout is 800)`);
    const r = await ask('good,claude-up');
    assert.equal(r.status, 200);
  });

  test('no TLS failure was answered with a key', () => {
    assert.doesNotMatch(tlsRelay.log(), /sk-[a-z]+-secret/);
  });
});
