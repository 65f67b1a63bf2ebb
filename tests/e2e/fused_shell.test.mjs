// The fused shell's entry point (scripts/fused-shell.sh, the container's ENTRYPOINT) run on the
// host, no container: it starts the real ccrelay in the background, waits until it answers,
// exports Claude Code's variables, writes Claude Code's first-run state, prints the active
// routes, and execs the shell or the command it was given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync, chmodSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, tmpdir, request, mockUpstream, sse, anthropicTextEvents, anthropicConfig, startRelay, waitFor } from './lib.mjs';

const SCRIPT = path.resolve('scripts/fused-shell.sh');

// The command the script execs in place of a shell: prints its pid and environment as JSON.
const DUMP = ['node', '-e', `process.stdout.write(JSON.stringify({pid: process.pid, env: process.env}))`];

// Run the script in `cwd` with a fresh HOME; resolves {code, stdout, stderr, pid, home}.
function runShell(args, { env = {}, home, cwd, timeout = 40000 } = {}) {
  home = home || tmpdir('ccrelay-fused-home-');
  cwd = cwd || tmpdir('ccrelay-fused-proj-');
  return new Promise((resolve) => {
    const child = spawn(SCRIPT, args, {
      cwd,
      env: {
        PATH: process.env.PATH, HOME: home, CCRELAY_BIN: BIN, CCRELAY_PORT: '0',
        GEMINI_API_KEY: '', OPENROUTER_API_KEY: '', ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('exit', (code, sig) => {
      clearTimeout(t);
      resolve({ code: code ?? sig, stdout, stderr, pid: child.pid, home, cwd });
    });
  });
}

// Running (a zombie waiting for init to reap it counts as stopped).
function alive(pid) {
  try { process.kill(pid, 0); } catch { return false; }
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z'; } catch { return true; }
}

// Stop the ccrelay the script left running in the background (its pid file is in the state dir).
async function stopProxy(stateDir) {
  const pidFile = path.join(stateDir, 'ccrelay.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split(' ')[0]);
  if (!(pid > 0) || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await waitFor(() => !alive(pid), 10000, `ccrelay pid ${pid} to stop`);
  // under ASan a leak or an error at exit is reported in the proxy's log
  const log = readFileSync(path.join(stateDir, 'ccrelay.log'), 'utf8');
  assert.doesNotMatch(log, /Sanitizer|runtime error:/, log.slice(-4000));
}

function portOf(url) {
  const m = /^http:\/\/127\.0\.0\.1:(\d+)$/.exec(url);
  assert.ok(m, `ANTHROPIC_BASE_URL is a loopback URL: ${url}`);
  return Number(m[1]);
}

test('embedded default: proxy answering, Claude Code variables, first-run state, routes, exec', async (t) => {
  const r = await runShell(DUMP, { env: { ANTHROPIC_API_KEY: 'sk-should-be-dropped', GEMINI_API_KEY: 'g-key' } });
  const state = path.join(r.home, '.ccrelay');
  t.after(() => stopProxy(state));
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  // exec: the command replaced the script (same pid), no wrapper process left in between
  assert.equal(out.pid, r.pid);
  const env = out.env;
  const port = portOf(env.ANTHROPIC_BASE_URL);
  assert.equal(env.ANTHROPIC_AUTH_TOKEN, 'ccrelay');
  assert.equal(env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, '1');
  assert.equal(env.CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY, '1');
  assert.equal(env.ANTHROPIC_API_KEY, undefined);

  // the proxy keeps running after the script is gone, and answers where the variables point
  const h = await request(port, { method: 'GET', path: '/health' });
  assert.equal(h.status, 200);
  const models = await request(port, { method: 'GET', path: '/v1/models', headers: { authorization: `Bearer ${env.ANTHROPIC_AUTH_TOKEN}` } });
  assert.equal(models.status, 200);
  assert.match(models.body, /gemini-2\.5-flash-lite/);
  const pidLine = readFileSync(path.join(state, 'ccrelay.pid'), 'utf8');
  assert.match(pidLine, new RegExp(`^\\d+ ${port}\\b`));
  assert.match(readFileSync(path.join(state, 'ccrelay.log'), 'utf8'), /listening on/);

  // Claude Code's first-run screens are answered, for the directory it starts in
  const cc = JSON.parse(readFileSync(path.join(r.home, '.claude.json'), 'utf8'));
  assert.equal(cc.hasCompletedOnboarding, true);
  assert.equal(typeof cc.theme, 'string');
  assert.ok(cc.theme.length > 0);
  assert.equal(cc.projects[r.cwd].hasTrustDialogAccepted, true);
  assert.equal(statSync(path.join(r.home, '.claude.json')).mode & 0o077, 0, 'not readable by others');

  // which routes are active, and which provider is (not) enabled
  assert.match(r.stderr, /route default\s+-> gemini,gemini-2\.5-flash/);
  assert.match(r.stderr, /route background\s+-> gemini,gemini-2\.5-flash-lite/);
  assert.match(r.stderr, /provider gemini: active/);
  assert.match(r.stderr, /OPENROUTER_API_KEY is not set/);
  assert.match(r.stderr, new RegExp(`answering on http://127\\.0\\.0\\.1:${port}`));
});

test('a mounted config: its APIKEY becomes the token and claude\'s requests reach its upstream', async (t) => {
  const mock = await mockUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents('upstream-model', 'Hello through the fused shell.')));
  });
  t.after(() => mock.close());
  const dir = tmpdir('ccrelay-fused-cfg-');
  const cfgPath = path.join(dir, 'config.json');
  writeFileSync(cfgPath, JSON.stringify(anthropicConfig(mock, { APIKEY: '$FUSED_TEST_KEY' })));
  const r = await runShell(DUMP, { env: { CCRELAY_CONFIG: cfgPath, FUSED_TEST_KEY: 'sekret-123' } });
  t.after(() => stopProxy(path.join(r.home, '.ccrelay')));
  assert.equal(r.code, 0, r.stderr);
  const { env } = JSON.parse(r.stdout);
  assert.equal(env.ANTHROPIC_AUTH_TOKEN, 'sekret-123');
  assert.match(r.stderr, /route default\s+-> mockant,upstream-model/);
  const port = portOf(env.ANTHROPIC_BASE_URL);
  const body = { model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] };
  const denied = await request(port, { body, headers: { authorization: 'Bearer wrong' } });
  assert.equal(denied.status, 401);
  const ok = await request(port, { body, headers: { authorization: `Bearer ${env.ANTHROPIC_AUTH_TOKEN}` } });
  assert.equal(ok.status, 200);
  assert.match(ok.body, /through the fused shell/);
  assert.equal(mock.requests.length, 1);
  assert.equal(mock.requests[0].body.model, 'upstream-model');
});

test('an existing ~/.claude.json is updated, not replaced', async (t) => {
  const home = tmpdir('ccrelay-fused-home-');
  const cwd = tmpdir('ccrelay-fused-proj-');
  writeFileSync(path.join(home, '.claude.json'), JSON.stringify({
    userID: 'u-123', theme: 'light', numStartups: 4,
    projects: { '/elsewhere': { hasTrustDialogAccepted: false, allowedTools: ['Bash'] },
      [cwd]: { allowedTools: ['Read'] } },
  }));
  const r = await runShell(['true'], { home, cwd });
  t.after(() => stopProxy(path.join(home, '.ccrelay')));
  assert.equal(r.code, 0, r.stderr);
  const cc = JSON.parse(readFileSync(path.join(home, '.claude.json'), 'utf8'));
  assert.equal(cc.hasCompletedOnboarding, true);
  assert.equal(cc.userID, 'u-123');
  assert.equal(cc.numStartups, 4);
  assert.equal(cc.theme, 'light'); // the user's choice stays
  assert.deepEqual(cc.projects['/elsewhere'], { hasTrustDialogAccepted: false, allowedTools: ['Bash'] });
  assert.equal(cc.projects[cwd].hasTrustDialogAccepted, true);
  assert.deepEqual(cc.projects[cwd].allowedTools, ['Read']);
  assert.equal(statSync(path.join(home, '.claude.json')).mode & 0o077, 0, 'not readable by others');
});

test('without a command it execs the interactive shell ($SHELL) with the same environment', async (t) => {
  const dir = tmpdir('ccrelay-fused-sh-');
  const fake = path.join(dir, 'fake-shell');
  const marker = path.join(dir, 'ran');
  writeFileSync(fake, `#!/bin/sh\necho "$$ $ANTHROPIC_BASE_URL $*" > '${marker}'\nexit 5\n`);
  chmodSync(fake, 0o755);
  const r = await runShell([], { env: { SHELL: fake } });
  t.after(() => stopProxy(path.join(r.home, '.ccrelay')));
  assert.equal(r.code, 5, r.stderr); // the shell's exit status is the script's: it was exec'd
  const [pid, url] = readFileSync(marker, 'utf8').trim().split(' ');
  assert.equal(Number(pid), r.pid);
  portOf(url);
  assert.match(r.stderr, /Type `claude`/);
});

test('a config that does not load: ccrelay\'s reason is shown and the command never runs', async () => {
  const dir = tmpdir('ccrelay-fused-bad-');
  const cfgPath = path.join(dir, 'config.json');
  writeFileSync(cfgPath, '{ "Providers": [ { "name": "x", "api_key": "$FUSED_UNSET_VAR_XYZ" } ] }');
  const marker = path.join(dir, 'ran');
  const r = await runShell(['sh', '-c', `touch '${marker}'`], { env: { CCRELAY_CONFIG: cfgPath } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FUSED_UNSET_VAR_XYZ/);
  assert.match(r.stderr, /ccrelay exited at start/);
  assert.ok(!existsSync(marker));
});

test('a taken port is reported, not waited on forever', async () => {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const r = await runShell(['true'], { env: { CCRELAY_PORT: String(srv.address().port) } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already in use/);
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

test('CCRELAY_URL: a proxy running elsewhere is used, none is started here', async (t) => {
  const relay = await startRelay({ APIKEY: 'remote-key', LOG_LEVEL: 'info' });
  t.after(() => relay.stop());
  const r = await runShell(DUMP, { env: { CCRELAY_URL: relay.url(''), CCRELAY_APIKEY: 'remote-key' } });
  assert.equal(r.code, 0, r.stderr);
  const { env } = JSON.parse(r.stdout);
  assert.equal(env.ANTHROPIC_BASE_URL, `http://127.0.0.1:${relay.port}`);
  assert.equal(env.ANTHROPIC_AUTH_TOKEN, 'remote-key');
  assert.ok(!existsSync(path.join(r.home, '.ccrelay', 'ccrelay.pid')));
  assert.equal(JSON.parse(readFileSync(path.join(r.home, '.claude.json'), 'utf8')).hasCompletedOnboarding, true);
});

test('CCRELAY_URL where nothing answers: a bounded wait, then a clear failure', async () => {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  const t0 = Date.now();
  const r = await runShell(['true'], { env: { CCRELAY_URL: `http://127.0.0.1:${port}`, CCRELAY_WAIT_S: '1' } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /nothing answers GET \/health/);
  assert.ok(Date.now() - t0 < 15000);
});

const hasLitellm = (() => {
  try { return execFileSync(BIN, ['--help'], { encoding: 'utf8' }).includes('--litellm-config'); } catch { return false; }
})();

test('litellm mode: the model map file is served, claude\'s model names reach the mapped upstream', { skip: hasLitellm ? false : 'this ccrelay has no --litellm-config yet' }, async (t) => {
  const mock = await mockUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents('mapped-model', 'Hello from the model map.')));
  });
  t.after(() => mock.close());
  const dir = tmpdir('ccrelay-fused-litellm-');
  const yaml = path.join(dir, 'litellm_config.yaml');
  writeFileSync(yaml, `model_list:\n  - model_name: "*"\n    litellm_params:\n      model: anthropic/mapped-model\n      api_base: "${mock.url('')}"\n      api_key: k-mapped\n`);
  const r = await runShell(DUMP, { env: { CCRELAY_MODE: 'litellm', CCRELAY_LITELLM_CONFIG: yaml } });
  t.after(() => stopProxy(path.join(r.home, '.ccrelay')));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /litellm mode/);
  assert.match(r.stderr, /model map/);
  const { env } = JSON.parse(r.stdout);
  const port = portOf(env.ANTHROPIC_BASE_URL);
  const ok = await request(port, { body: { model: 'claude-haiku-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal(ok.status, 200, ok.body);
  assert.match(ok.body, /model map/);
  assert.equal(mock.requests.at(-1).body.model, 'mapped-model');
});

test('litellm mode needs a model map file; an unknown mode is refused', async () => {
  const r = await runShell(['true'], { env: { CCRELAY_MODE: 'litellm' } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /CCRELAY_LITELLM_CONFIG/);
  const bad = await runShell(['true'], { env: { CCRELAY_MODE: 'frobnicate' } });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /router or litellm/);
});
