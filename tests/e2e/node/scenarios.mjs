// Runs one Assistants scenario through the gateway with the official openai npm package and
// prints what the SDK saw as one JSON line. Usage: node scenarios.mjs <baseURL> <scenario> <text>
import OpenAI from "openai";

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

async function main() {
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
  console.log(JSON.stringify(await finish(stream, seen)));
}

main().catch((err) => {
  console.log(JSON.stringify({ error: String(err), status: err.status ?? null }));
  process.exit(1);
});
