// A config with both kinds of provider: an Anthropic-format one (the request forwarded as it
// came, summarised from its raw text) and an OpenAI-format one (translated from a parsed tree).
// The relay remembers, per client model, where the last request went and parses first for a
// model that goes to a translator: whichever way a request is read, the answer must be the same.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  fixtures, mockUpstream, startRelay, request, parseSSE, checkAnthropicStream, oaiChunks, sse,
  anthropicTextEvents,
} from './lib.mjs';

const FIX = fixtures().filter((f) => !f.path.includes('count_tokens'));
const opus = FIX.find((f) => f.name === 'claude-code-2.1.331/hello-opus55.json').body;
const haiku = FIX.find((f) => f.name === 'claude-code-2.1.331/model-haiku55.json').body;
let ant, oai, relay;

before(async () => {
  ant = await mockUpstream((req, res, rec) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents(rec.body.model)));
  });
  oai = await mockUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(oaiChunks([{ role: 'assistant', content: 'Hi' }, { content: ' there' }]).join(''));
  });
  relay = await startRelay({
    Providers: [
      { name: 'ant', api_base_url: ant.url('/v1/messages'), api_key: 'ka', models: ['big'] },
      { name: 'oai', api_base_url: oai.url('/v1/chat/completions'), api_key: 'ko', models: ['small'] },
    ],
    Router: { default: 'ant,big', background: 'oai,small' },
  });
});
after(async () => { await relay.stop(); await ant.close(); await oai.close(); });

async function ask(body) {
  const r = await request(relay.port, { body });
  assert.equal(r.status, 200, r.body);
  const events = parseSSE(r.body);
  checkAnthropicStream(events);
  return { r, events };
}

test('alternating models: each reaches its provider, forwarded or translated, every time', async () => {
  for (let i = 0; i < 4; i++) {
    const a0 = ant.requests.length, o0 = oai.requests.length;
    const big = await ask(opus);
    assert.equal(big.r.headers['x-ccrelay-upstream-model'], 'big');
    assert.equal(ant.requests.length, a0 + 1);
    // forwarded as it came, but for the model
    assert.deepEqual({ ...ant.requests.at(-1).body, model: opus.model }, opus);
    const small = await ask(haiku);
    assert.equal(small.r.headers['x-ccrelay-upstream-model'], 'small');
    assert.equal(oai.requests.length, o0 + 1);
    assert.equal(oai.requests.at(-1).body.model, 'small');
    assert.ok(oai.requests.at(-1).body.messages.length >= haiku.messages.length);
    assert.equal(JSON.parse(small.events.find((e) => e.event === 'message_start').data).message.model, haiku.model);
  }
});

test('a model that went to the translator, then to the pass-through (a custom router switches): both read right', async () => {
  const dir = relay.dir;
  const router = path.join(dir, 'switch.lua');
  // reads req.body (parsed lazily on the raw-text path, already parsed on the tree path)
  writeFileSync(router, 'return function(req)\n  local n = #req.body.messages\n  if req.body.metadata and n > 0 and req.tokens > 0 then\n    if req.headers["x-want"] == "ant" then return "ant,big" end\n    return "oai,small"\n  end\nend\n');
  const cfg = JSON.parse((await import('node:fs')).readFileSync(relay.cfgPath, 'utf8'));
  cfg.CUSTOM_ROUTER_PATH = router;
  writeFileSync(relay.cfgPath, JSON.stringify(cfg));
  const { waitFor } = await import('./lib.mjs');
  await waitFor(() => /reloaded/.test(relay.log()), 5000, 'config reload');
  for (const want of ['oai', 'oai', 'ant', 'ant', 'oai', 'ant']) {
    const r = await request(relay.port, { body: opus, headers: { 'x-want': want } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-ccrelay-upstream-model'], want === 'ant' ? 'big' : 'small', relay.log().slice(-2000));
    checkAnthropicStream(parseSSE(r.body));
  }
});
