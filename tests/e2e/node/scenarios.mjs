// Runs one Assistants scenario through the gateway with the official openai npm package and
// prints what the SDK saw as one JSON line. Usage: node scenarios.mjs <baseURL> <scenario> <text>
// OPENAI_SDK_DIR names another install of the package to run with (tests/e2e/node4: the 4.x line);
// the streamed scenarios call only what 4.x has too.
import { pathToFileURL } from "node:url";

const sdkDir = process.env.OPENAI_SDK_DIR;
const from = (file, name) => (sdkDir ? pathToFileURL(`${sdkDir}/${file}`).href : name);
const { default: OpenAI } = await import(from("index.mjs", "openai"));
const { VERSION } = await import(from("version.mjs", "openai/version"));

const [baseURL, scenario, text] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "sk-test-node", maxRetries: 0 });
const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a place",
    parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
  },
};

function observe(stream) {
  const seen = { deltas: [], textCreated: 0, textDone: [], messageDone: 0, toolCallsCreated: [], toolCallsDone: [], events: [] };
  stream
    .on("event", (e) => seen.events.push(e.event))
    .on("textCreated", () => (seen.textCreated += 1))
    .on("textDelta", (d) => seen.deltas.push(d.value))
    .on("textDone", (t) => seen.textDone.push(t.value))
    .on("messageDone", () => (seen.messageDone += 1))
    .on("toolCallCreated", (c) => seen.toolCallsCreated.push({ id: c.id, type: c.type, name: c.function?.name }))
    .on("toolCallDone", (c) => seen.toolCallsDone.push({ id: c.id, name: c.function?.name, arguments: c.function?.arguments }));
  return seen;
}

async function finish(stream, seen) {
  const run = await stream.finalRun();
  const messages = await stream.finalMessages();
  return {
    ...seen,
    status: run.status,
    required: run.required_action?.submit_tool_outputs?.tool_calls ?? null,
    final_texts: messages.map((m) => m.content.filter((c) => c.type === "text").map((c) => c.text.value).join("")),
  };
}

const textOf = (message) => message.content.filter((c) => c.type === "text").map((c) => c.text.value).join("");

async function streamScenario() {
  const tools = scenario === "tool" ? [weather] : [];
  const assistant = await client.beta.assistants.create({ model: "abab6.5s-chat", name: "node", tools });
  let stream;
  if (scenario === "create_and_run") {
    stream = client.beta.threads.createAndRunStream({
      assistant_id: assistant.id,
      thread: { messages: [{ role: "user", content: text }] },
    });
  } else {
    const thread = await client.beta.threads.create({});
    await client.beta.threads.messages.create(thread.id, { role: "user", content: text });
    stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  }
  const seen = observe(stream);
  return finish(stream, seen);
}

// The rest of the Assistants surface (CRUD, paging, polling, tool outputs, cancel, steps, errors).
async function surfaceScenario() {
  const out = {};
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await client.beta.assistants.create({ model: "gpt-4o", name: `n${i}` }));
  const ours = new Set(made.map((a) => a.id));
  const listed = [];
  for await (const a of client.beta.assistants.list({ limit: 1, order: "asc" })) if (ours.has(a.id)) listed.push(a.id);
  out.paged = JSON.stringify(listed) === JSON.stringify(made.map((a) => a.id));
  out.updated = (await client.beta.assistants.update(made[0].id, { name: "renamed" })).name;
  out.deleted = (await client.beta.assistants.delete(made[0].id)).deleted;
  try {
    await client.beta.assistants.retrieve(made[0].id);
  } catch (err) {
    out.retrieveDeleted = err.constructor.name;
  }

  const assistant = await client.beta.assistants.create({ model: "abab6.5s-chat", tools: [weather] });
  const polled = await client.beta.threads.createAndRunPoll(
    { assistant_id: assistant.id, thread: { messages: [{ role: "user", content: text }] } },
    { pollIntervalMs: 50 },
  );
  out.polledStatus = polled.status;
  out.polledReply = textOf((await client.beta.threads.messages.list(polled.thread_id)).data[0]);

  const thread = await client.beta.threads.create({ messages: [{ role: "user", content: "Call get_weather for Lima" }] });
  const first = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const run = await first.finalRun();
  out.firstStatus = run.status;
  const call = run.required_action.submit_tool_outputs.tool_calls[0];
  const second = client.beta.threads.runs.submitToolOutputsStream(run.id, {
    thread_id: thread.id,
    tool_outputs: [{ tool_call_id: call.id, output: "mild" }],
  });
  const seen = observe(second);
  const after = await finish(second, seen);
  out.submitStatus = after.status;
  out.submitText = after.final_texts[0];
  out.submitDeltas = after.deltas.join("");
  out.submitEvents = after.events;
  const steps = [];
  for await (const s of client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id, order: "asc" })) steps.push(s);
  out.stepTypes = steps.map((s) => s.type);
  out.stepOutput = steps[0].step_details.tool_calls[0].function.output;

  const t2 = await client.beta.threads.create({ messages: [{ role: "user", content: "Call get_weather for Bern" }] });
  const r2 = await client.beta.threads.runs.createAndPoll(t2.id, { assistant_id: assistant.id }, { pollIntervalMs: 50 });
  const c2 = r2.required_action.submit_tool_outputs.tool_calls[0];
  const done = await client.beta.threads.runs.submitToolOutputsAndPoll(
    r2.id,
    { thread_id: t2.id, tool_outputs: [{ tool_call_id: c2.id, output: "cold" }] },
    { pollIntervalMs: 50 },
  );
  out.pollSubmitStatus = done.status;
  out.pollSubmitReply = textOf((await client.beta.threads.messages.list(t2.id)).data[0]);

  const t3 = await client.beta.threads.create({ messages: [{ role: "user", content: "Talk slowly [[fault:pace:200]]" }] });
  const slow = await client.beta.threads.runs.create(t3.id, { assistant_id: assistant.id, metadata: { emulator_pace_ms: "200" } });
  await client.beta.threads.runs.cancel(slow.id, { thread_id: t3.id });
  out.cancelled = (await client.beta.threads.runs.poll(slow.id, { thread_id: t3.id }, { pollIntervalMs: 50 })).status;

  const errors = {};
  for (const [name, call] of Object.entries({
    notFound: () => client.beta.threads.retrieve("thread_" + "0".repeat(32)),
    badModel: () => client.beta.assistants.create({ model: "no-such-model" }),
    threadDelete: () => client.beta.threads.delete(thread.id),
  })) {
    try {
      await call();
      errors[name] = "no error";
    } catch (err) {
      errors[name] = `${err.constructor.name}:${err.status}`;
    }
  }
  out.errors = errors;
  return out;
}

async function main() {
  const result = scenario === "surface" ? await surfaceScenario() : await streamScenario();
  console.log(JSON.stringify({ ...result, sdk: VERSION }));
}

main().catch((err) => {
  console.log(JSON.stringify({ error: String(err), status: err.status ?? null }));
  process.exit(1);
});
