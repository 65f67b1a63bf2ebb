// The command line as a user meets it: background start/stop/status with pid and log files
// under ~/.ccrelay, stale pid files, a taken port, activate, and `code` launching claude.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync, mkdirSync, chmodSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, tmpdir, closedPort, request } from './lib.mjs';

function run(args, { env = {}, timeout = 20000 } = {}) {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...process.env, ...env }, timeout }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

function isolated() {
  const home = tmpdir('ccrelay-cli-');
  return { HOME: home, CCRELAY_CONFIG: '', GEMINI_API_KEY: '', OPENROUTER_API_KEY: '' };
}

test('version and help', async () => {
  const v = await run(['version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^ccrelay \d+\.\d+\.\d+/);
  for (const cmd of ['serve', 'start', 'stop', 'status', 'code', 'activate', 'route', 'check']) {
    const h = await run([cmd, '--help']);
    assert.equal(h.code, 0, cmd);
    assert.match(h.stdout, new RegExp(`ccrelay ${cmd}|eval`), cmd);
  }
  const bad = await run(['frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command/);
});

test('start, status, stop in the background, with pid and log files under ~/.ccrelay', async () => {
  const env = isolated();
  const port = await closedPort();
  const s = await run(['start', '--port', String(port)], { env });
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /started \(pid \d+\)/);
  const pidFile = path.join(env.HOME, '.ccrelay', 'ccrelay.pid');
  assert.ok(existsSync(pidFile));
  assert.ok(existsSync(path.join(env.HOME, '.ccrelay', 'ccrelay.log')));
  const h = await request(port, { method: 'GET', path: '/health' });
  assert.equal(h.status, 200);
  const again = await run(['start', '--port', String(port)], { env });
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already running/);
  const st = await run(['status', '--port', String(port)], { env });
  assert.equal(st.code, 0);
  assert.match(st.stdout, /running \(pid \d+\).*answering/);
  const stop = await run(['stop'], { env });
  assert.equal(stop.code, 0);
  assert.match(stop.stdout, /stopped/);
  assert.ok(!existsSync(pidFile));
  const st2 = await run(['status', '--port', String(port)], { env });
  assert.notEqual(st2.code, 0);
  assert.match(st2.stdout, /not running/);
});

test('a stale pid file is reported and replaced', async () => {
  const env = isolated();
  mkdirSync(path.join(env.HOME, '.ccrelay'), { recursive: true });
  const pidFile = path.join(env.HOME, '.ccrelay', 'ccrelay.pid');
  writeFileSync(pidFile, '999999 3456\n');
  const st = await run(['status'], { env });
  assert.match(st.stdout, /stale pid file/);
  const port = await closedPort();
  const s = await run(['start', '--port', String(port)], { env });
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, /stale pid file/);
  assert.notEqual(readFileSync(pidFile, 'utf8').split(' ')[0], '999999');
  assert.equal((await run(['stop'], { env })).code, 0);
});

test('a taken port gets a clear message', async () => {
  const env = isolated();
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  const port = blocker.address().port;
  try {
    const r = await run(['serve', '--port', String(port)], { env, timeout: 5000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`port ${port}.*already in use`));
  } finally { blocker.close(); }
});

test('a bad config is refused at start with the key path', async () => {
  const env = isolated();
  const cfg = path.join(env.HOME, 'bad.json');
  writeFileSync(cfg, '{ "Providers": [ { "name": "x", "api_base_url": "https://h/v1/messages", "models": ["m"] } ],\n  "Router": { "default": "nope,m" } }');
  const r = await run(['start', '--config', cfg], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Router\.default/);
});

test('activate prints the exports Claude Code needs', async () => {
  const env = isolated();
  const r = await run(['activate', '--port', '4567'], { env });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^export ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:4567$/m);
  assert.match(r.stdout, /^export ANTHROPIC_AUTH_TOKEN=/m);
  assert.match(r.stdout, /^export CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1$/m);
});

test('code starts the proxy and runs claude with every argument passed through', async () => {
  const env = isolated();
  const bin = path.join(env.HOME, 'bin');
  mkdirSync(bin);
  const fake = path.join(bin, 'claude');
  writeFileSync(fake, '#!/bin/sh\necho "BASE=$ANTHROPIC_BASE_URL TOKEN=$ANTHROPIC_AUTH_TOKEN DISC=$CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY"\nfor a in "$@"; do echo "ARG=$a"; done\n');
  chmodSync(fake, 0o755);
  const port = await closedPort();
  const r = await run(['code', '--port', String(port), '-p', 'say hello', '--output-format', 'json', '--config'], { env: { ...env, PATH: `${bin}:${process.env.PATH}` } });
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`BASE=http://127.0.0.1:${port} TOKEN=\\S+ DISC=1`));
    assert.deepEqual(r.stdout.split('\n').filter((l) => l.startsWith('ARG=')), ['ARG=-p', 'ARG=say hello', 'ARG=--output-format', 'ARG=json', 'ARG=--config']);
    const h = await request(port, { method: 'GET', path: '/health' });
    assert.equal(h.status, 200, 'the proxy keeps running after claude exits');
  } finally { await run(['stop'], { env }); }
});

test('--workers: several processes share the port, reload together, and a dead one comes back', async () => {
  const { mockUpstream, anthropicConfig, sse, anthropicTextEvents, waitFor } = await import('./lib.mjs');
  const { spawn } = await import('node:child_process');
  const mock = await mockUpstream((req, res, rec) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents(rec.body.model)));
  });
  const env = isolated();
  const cfg = path.join(env.HOME, 'config.json');
  writeFileSync(cfg, JSON.stringify(anthropicConfig(mock, { LOG_LEVEL: 'info' })));
  const port = await closedPort();
  const child = spawn(BIN, ['serve', '--config', cfg, '--port', String(port), '--workers', '2'], { env: { ...process.env, ...env } });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  try {
    await waitFor(() => (log.match(/listening on/g) || []).length === 2, 10000, 'two workers listening');
    const body = { model: 'claude-opus-4-8', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] };
    for (let i = 0; i < 40; i++) {
      const r = await request(port, { body });
      assert.equal(r.status, 200);
    }
    assert.match(log, /w1 POST \/v1\/messages/);
    assert.match(log, /w2 POST \/v1\/messages/, 'the kernel spread connections over both workers');
    // SIGHUP reaches both
    child.kill('SIGHUP');
    await waitFor(() => (log.match(/reloaded/g) || []).length === 2, 5000, 'both workers reloaded');
    // a worker that dies is started again
    const { execFileSync } = await import('node:child_process');
    const kids = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(kids.length, 2);
    process.kill(Number(kids[0]), 'SIGKILL');
    await waitFor(() => /worker \d exited \(signal 9\); starting it again/.test(log), 5000, 'restart');
    await waitFor(() => (log.match(/listening on/g) || []).length === 3, 5000, 'the new worker listening');
    // a second server on the same port is refused, not silently joined
    const again = await run(['serve', '--config', cfg, '--port', String(port), '--workers', '2'], { env, timeout: 5000 });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already in use/);
  } finally {
    child.kill('SIGTERM');
    const r = await exited;
    await mock.close();
    assert.equal(r.code, 0, log.slice(-2000));
  }
});

test('code uses a proxy that already runs in the foreground (make run in another terminal)', async () => {
  const { spawn } = await import('node:child_process');
  const { waitFor } = await import('./lib.mjs');
  const env = isolated();
  const bin = path.join(env.HOME, 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'claude'), '#!/bin/sh\necho "BASE=$ANTHROPIC_BASE_URL"\n');
  chmodSync(path.join(bin, 'claude'), 0o755);
  const port = await closedPort();
  const serve = spawn(BIN, ['serve', '--port', String(port), '--workers', '1'], { env: { ...process.env, ...env } });
  let log = '';
  serve.stderr.on('data', (d) => { log += d; });
  try {
    await waitFor(() => /listening on/.test(log), 10000, 'serve');
    const r = await run(['code', '--port', String(port), '-p', 'hi'], { env: { ...env, PATH: `${bin}:${process.env.PATH}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`BASE=http://127.0.0.1:${port}`));
    assert.ok(!existsSync(path.join(env.HOME, '.ccrelay', 'ccrelay.pid')), 'no second proxy was started');
  } finally { serve.kill('SIGTERM'); }
});
