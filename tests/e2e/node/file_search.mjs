// file_search inside a run, with the official openai npm package: documents uploaded (toFile) into a
// vector store, an assistant with the file_search tool over it, a streamed run (the search's tool call
// and step, the answer's text deltas with their annotations, the final message), then the run's steps
// listed with and without include[] of the results' content. Prints what the SDK saw as one JSON line.
// Usage: node file_search.mjs <baseURL> <corpus.json>
// corpus.json: {"documents": {name: text}, "question": text}
import { readFileSync } from "node:fs";
import OpenAI, { toFile } from "openai";

const [baseURL, corpusPath] = process.argv.slice(2);
const corpus = JSON.parse(readFileSync(corpusPath, "utf8"));
const client = new OpenAI({ baseURL, apiKey: `sk-node-file-search-${process.pid}`, maxRetries: 0 });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const INCLUDE = "step_details.tool_calls[*].file_search.results[*].content";

async function settled(storeId) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const store = await client.vectorStores.retrieve(storeId);
    if (store.status !== "in_progress") return store;
    if (Date.now() > deadline) throw new Error(`vector store ${storeId} still in progress`);
    await sleep(50);
  }
}

async function stepsOf(threadId, runId, query) {
  const steps = [];
  for await (const step of client.beta.threads.runs.steps.list(runId, { thread_id: threadId, order: "asc", ...query })) {
    steps.push(step);
  }
  return steps;
}

const out = { ids: {} };
for (const [name, text] of Object.entries(corpus.documents)) {
  const file = await client.files.create({ file: await toFile(Buffer.from(text, "utf8"), name), purpose: "assistants" });
  out.ids[name] = file.id;
}
const store = await settled((await client.vectorStores.create({ name: "node-library", file_ids: Object.values(out.ids) })).id);
out.storeStatus = store.status;
const assistant = await client.beta.assistants.create({
  model: "MiniMax-M2.7",
  tools: [{ type: "file_search" }],
  tool_resources: { file_search: { vector_store_ids: [store.id] } },
});
out.assistantTools = assistant.tools.map((t) => t.type);
const thread = await client.beta.threads.create({ messages: [{ role: "user", content: corpus.question }] });

const seen = { events: [], toolCallsCreated: [], stepsDone: [], deltas: [], snapshotAnnotations: null, messagesDone: [] };
const stream = client.beta.threads.runs
  .stream(thread.id, { assistant_id: assistant.id })
  .on("event", (e) => seen.events.push(e.event))
  .on("toolCallCreated", (call) => seen.toolCallsCreated.push({ id: call.id, type: call.type }))
  .on("runStepDone", (step) => seen.stepsDone.push({ type: step.type, status: step.status, details: step.step_details }))
  .on("textDelta", (delta, snapshot) => {
    seen.deltas.push({ value: delta.value ?? "", annotations: delta.annotations ?? [] });
    seen.snapshotAnnotations = snapshot.annotations;
  })
  .on("messageDone", (message) => seen.messagesDone.push(message.content));
const run = await stream.finalRun();
Object.assign(out, seen);
out.run = { status: run.status, usage: run.usage, requiredAction: run.required_action };
const [latest] = (await client.beta.threads.messages.list(thread.id, { run_id: run.id })).data;
out.stored = latest.content;
const plain = await stepsOf(thread.id, run.id, {});
out.stepsPlain = plain.map((s) => ({ type: s.type, details: s.step_details, usage: s.usage }));
const full = await stepsOf(thread.id, run.id, { include: [INCLUDE] });
out.stepsFull = full.map((s) => ({ type: s.type, details: s.step_details }));
const one = await client.beta.threads.runs.steps.retrieve(plain[0].id, { thread_id: thread.id, run_id: run.id, include: [INCLUDE] });
out.retrievedFull = one.step_details;

console.log(JSON.stringify(out));
