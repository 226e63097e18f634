// code_interpreter inside a run, with the official openai npm package: a CSV uploaded (toFile) and given
// to an assistant with the code_interpreter tool, a streamed run whose message holds a fenced python block
// (the emulator's model runs exactly that code): the call's deltas as the SDK accumulates them (input
// growing, outputs with their indexes), the image content of the answer, its file_path annotation, the
// written file's bytes. Prints what the SDK saw as one JSON line.
// Usage: node code_interpreter.mjs <baseURL> <csv text> <code>
import OpenAI, { toFile } from "openai";

const [baseURL, csvText, code] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: `sk-node-code-${process.pid}`, maxRetries: 0 });

const file = await client.files.create({ file: await toFile(Buffer.from(csvText, "utf8"), "data.csv"), purpose: "assistants" });
const assistant = await client.beta.assistants.create({
  model: "MiniMax-M2.7",
  tools: [{ type: "code_interpreter" }],
  tool_resources: { code_interpreter: { file_ids: [file.id] } },
});
const thread = await client.beta.threads.create({
  messages: [{ role: "user", content: "Run this:\n```python\n" + code + "\n```" }],
});

const seen = { events: [], inputDeltas: [], outputDeltas: [], callsDone: [], imagesDone: [], deltas: [], messagesDone: [] };
const stream = client.beta.threads.runs
  .stream(thread.id, { assistant_id: assistant.id })
  .on("event", (e) => seen.events.push(e.event))
  .on("toolCallDelta", (delta) => {
    if (delta.type !== "code_interpreter") return;
    if (delta.code_interpreter?.input) seen.inputDeltas.push(delta.code_interpreter.input);
    for (const o of delta.code_interpreter?.outputs ?? []) seen.outputDeltas.push({ index: o.index, type: o.type });
  })
  .on("toolCallDone", (call) => seen.callsDone.push(call))
  .on("imageFileDone", (image) => seen.imagesDone.push(image.file_id))
  .on("textDelta", (delta) => seen.deltas.push({ value: delta.value ?? "", annotations: delta.annotations ?? [] }))
  .on("messageDone", (message) => seen.messagesDone.push(message.content));
const run = await stream.finalRun();

const message = seen.messagesDone.at(-1);
const text = message.find((c) => c.type === "text").text;
const paths = text.annotations.filter((a) => a.type === "file_path");
const written = paths.length ? Buffer.from(await (await client.files.content(paths[0].file_path.file_id)).arrayBuffer()).toString("utf8") : null;
console.log(JSON.stringify({ run: { status: run.status }, seen, message, text, written, fileId: file.id }));
