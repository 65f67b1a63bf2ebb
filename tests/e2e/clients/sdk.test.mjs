// The official Anthropic SDK through ccrelay, on each wire format. Its stream parser is strict
// (it rebuilds the message from the events and parses the tool input from input_json_delta), so
// messages.stream().finalMessage() equal to the scripted answer shows the stream was right.
//
// Needs `npm ci --prefix tests/e2e` (skipped with that hint otherwise).
import { describe, test, test as nodeTest, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../lib.mjs';
import { anthropicSdk, relayConfig, providerFor, supportedFormats, INSTALL_HINT } from './harness.mjs';
import { mockModel, decide, FORMATS, THINKING_TEXT } from './mockmodel.mjs';

const Anthropic = await anthropicSdk();
const noSdk = Anthropic ? false : `the Anthropic SDK is not installed: ${INSTALL_HINT}`;
let mock = null;
let support = {};
if (!noSdk) {
  mock = await mockModel();
  support = await supportedFormats(mock, FORMATS);
}
const available = FORMATS.filter((f) => !noSdk && !support[f]);
after(async () => { if (mock) await mock.close(); });

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: {
    type: 'object',
    properties: {
      city: { type: 'string' }, units: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      days: { type: 'array', items: { type: 'integer' } },
      detail: { type: 'object', properties: { wind: { type: 'boolean' }, note: { type: 'string' } } },
    },
    required: ['city'],
  },
};
const BASH_TOOL = { name: 'Bash', description: 'Run a shell command', input_schema: { type: 'object', properties: { command: { type: 'string' }, description: { type: 'string' } }, required: ['command'] } };

// What the scripted model answers, in Anthropic's content shape (ids are the proxy's to choose).
function scripted(marker) {
  const a = decide({ turns: [{ role: 'user', parts: [{ kind: 'text', text: marker }] }], tools: [], wantsJson: false, model: 'x', format: 'anthropic' }, 1);
  const content = [];
  if (a.text) content.push({ type: 'text', text: a.text });
  if (a.call) content.push({ type: 'tool_use', name: a.call.name, input: a.call.input });
  return { content, stop_reason: a.call ? 'tool_use' : 'end_turn' };
}

// A message reduced to what the script decides: block types, texts, tool names and inputs.
function shape(msg) {
  return {
    content: msg.content.map((b) => (b.type === 'tool_use' ? { type: b.type, name: b.name, input: b.input } : b.type === 'text' ? { type: 'text', text: b.text } : { type: b.type })),
    stop_reason: msg.stop_reason,
  };
}

function assertIds(msg) {
  assert.match(msg.id, /^msg_/);
  for (const b of msg.content.filter((x) => x.type === 'tool_use')) assert.match(b.id, /^toolu_[A-Za-z0-9_-]+$/);
}

for (const fmt of FORMATS) {
  const skip = noSdk || support[fmt] || false;
  describe(`Anthropic SDK through ccrelay to a ${fmt} upstream`, () => {
    // skipped per test (not per suite), so that the runner's closing counts show the skips
    const test = (name, fn) => nodeTest(name, { skip }, fn);
    let relay;
    let client;
    before(async () => {
      if (skip) return;
      relay = await startRelay(relayConfig(available, mock, fmt));
      client = new Anthropic({ baseURL: relay.url(''), apiKey: 'sk-e2e-client', authToken: null, maxRetries: 0, timeout: 20000 });
    });
    after(async () => { if (relay) await relay.stop(); });

    test('messages.create: a text answer', async () => {
      const msg = await client.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 1024, messages: [{ role: 'user', content: '[e2e:sdk-text] what is 2 + 2?' }] });
      assertIds(msg);
      assert.deepEqual(shape(msg), scripted('[e2e:sdk-text]'));
      assert.ok(msg.usage.output_tokens > 0);
    });

    test('messages.create: text and a tool call, input included', async () => {
      const msg = await client.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 1024, tools: [WEATHER_TOOL], messages: [{ role: 'user', content: '[e2e:sdk-tool] weather in Paris?' }] });
      assertIds(msg);
      assert.deepEqual(shape(msg), scripted('[e2e:sdk-tool]'));
    });

    test('messages.stream: finalMessage() equals the scripted answer, tool input included', async () => {
      const stream = client.messages.stream({ model: 'claude-sonnet-5-5', max_tokens: 1024, tools: [WEATHER_TOOL], messages: [{ role: 'user', content: '[e2e:sdk-tool] weather in Paris?' }] });
      let text = '';
      stream.on('text', (d) => { text += d; });
      const json = new Map(); // index -> the input_json_delta text, as sent
      stream.on('streamEvent', (e) => {
        if (e.type === 'content_block_delta' && e.delta.type === 'input_json_delta') json.set(e.index, (json.get(e.index) || '') + e.delta.partial_json);
      });
      const msg = await stream.finalMessage();
      assertIds(msg);
      assert.deepEqual(shape(msg), scripted('[e2e:sdk-tool]'));
      // The SDK reads tool input with a lenient partial-JSON parser (an unclosed object still
      // parses), so the deltas are also checked as they were sent: together, one strict JSON value.
      const toolIndex = msg.content.findIndex((b) => b.type === 'tool_use');
      assert.ok(json.has(toolIndex), 'the tool input arrived as input_json_delta');
      assert.deepEqual(JSON.parse(json.get(toolIndex)), scripted('[e2e:sdk-tool]').content[1].input);
      assert.equal(text, scripted('[e2e:sdk-tool]').content[0].text, 'the text events add up to the text');
      const up = mock.requests.filter((r) => r.scenario === 'sdk-tool' && r.view.format === fmt).at(-1);
      assert.equal(up.view.stream, true);
      assert.ok(up.view.tools.includes('get_weather'));
    });

    test('messages.stream: a thinking block, signed, before the tool call', async () => {
      const stream = client.messages.stream({ model: 'claude-sonnet-5-5', max_tokens: 8000, thinking: { type: 'enabled', budget_tokens: 2000 }, tools: [BASH_TOOL], messages: [{ role: 'user', content: '[e2e:think] think, then run echo hi' }] });
      const msg = await stream.finalMessage();
      assert.deepEqual(msg.content.map((b) => b.type), ['thinking', 'tool_use']);
      assert.equal(msg.content[0].thinking, THINKING_TEXT, 'no display option: the reasoning text is shown');
      assert.ok(msg.content[0].signature.length > 0);
      assert.deepEqual(msg.content[1].input, { command: 'echo hi', description: 'Print hi' });
      assert.equal(msg.stop_reason, 'tool_use');
    });

    test('messages.countTokens', async () => {
      const r = await client.messages.countTokens({ model: 'claude-sonnet-5-5', tools: [WEATHER_TOOL], messages: [{ role: 'user', content: 'How many tokens is this sentence, with a tool declared?' }] });
      assert.ok(Number.isInteger(r.input_tokens) && r.input_tokens > 10, JSON.stringify(r));
    });

    test('models.list lists every configured provider,model, and such an id routes there', async () => {
      const listed = [];
      for await (const m of client.models.list()) listed.push(m);
      for (const f of available) {
        const p = providerFor(f, mock);
        for (const model of p.models) {
          const e = listed.find((x) => x.display_name === `${p.name},${model}`);
          assert.ok(e, `${p.name},${model} listed: ${JSON.stringify(listed)}`);
          assert.match(e.id, /^claude-/);
          assert.equal(e.type, 'model');
        }
      }
      const p = providerFor(fmt, mock);
      const id = listed.find((x) => x.display_name === `${p.name},${p.models[2]}`).id;
      const msg = await client.messages.create({ model: id, max_tokens: 100, messages: [{ role: 'user', content: '[e2e:model] which?' }] });
      assert.equal(msg.content[0].text, `MODEL-ANSWER from ${p.models[2]}`);
    });
  });
}
