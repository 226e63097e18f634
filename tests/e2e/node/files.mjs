// Files and vector stores through the gateway with the official openai npm package: upload (toFile),
// a vector store made of the uploads, polled until it settles, search in several languages, the SDK's
// upload-and-poll helpers for one file and for a batch, the chunks of a file, downloads and errors.
// Prints what the SDK saw as one JSON line. Usage: node files.mjs <baseURL> <corpus.json>
// corpus.json: {"documents": {name: text}, "queries": {language: query}}
import { readFileSync } from "node:fs";
import OpenAI, { toFile } from "openai";

const [baseURL, corpusPath] = process.argv.slice(2);
const corpus = JSON.parse(readFileSync(corpusPath, "utf8"));
const client = new OpenAI({ baseURL, apiKey: `sk-node-files-${process.pid}`, maxRetries: 0 });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function settled(storeId) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const store = await client.vectorStores.retrieve(storeId);
    if (store.status !== "in_progress") return store;
    if (Date.now() > deadline) throw new Error(`vector store ${storeId} still in progress`);
    await sleep(50);
  }
}

async function errorOf(call) {
  try {
    await call();
    return null;
  } catch (err) {
    return { name: err.constructor.name, status: err.status, code: err.code ?? null, param: err.param ?? null };
  }
}

const out = {};
const names = {};
for (const [name, text] of Object.entries(corpus.documents)) {
  // The SDK sends the file part before `purpose`: the gateway learns the purpose after the bytes.
  const file = await client.files.create({ file: await toFile(Buffer.from(text, "utf8"), name), purpose: "assistants" });
  names[file.id] = name;
  out.uploaded = [...(out.uploaded ?? []), { name: file.filename, bytes: file.bytes, purpose: file.purpose }];
}

const created = await client.vectorStores.create({ name: "node", file_ids: Object.keys(names) });
out.createdStatus = created.status;
const store = await settled(created.id);
out.store = { status: store.status, fileCounts: store.file_counts, usageBytes: store.usage_bytes };

out.search = {};
for (const [language, query] of Object.entries(corpus.queries)) {
  const page = await client.vectorStores.search(store.id, { query });
  out.search[language] = page.data.map((r) => ({ name: names[r.file_id], score: r.score, text: r.content[0].text }));
}
const limited = await client.vectorStores.search(store.id, { query: Object.values(corpus.queries).join(" "), max_num_results: 2 });
out.limited = limited.data.length;

const single = await client.vectorStores.files.uploadAndPoll(store.id, await toFile(Buffer.from("Node single upload about lanterns."), "lantern.txt"), { pollIntervalMs: 50 });
out.single = { status: single.status, usageBytes: single.usage_bytes };
names[single.id] = "lantern.txt";
const batch = await client.vectorStores.fileBatches.uploadAndPoll(
  store.id,
  {
    files: [
      await toFile(Buffer.from("Batch file one mentions zeppelins."), "one.txt"),
      await toFile(Buffer.from("Batch file two mentions submarines."), "two.txt"),
      await toFile(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]), "image.png"),
    ],
  },
  { pollIntervalMs: 50 },
);
out.batch = { status: batch.status, fileCounts: batch.file_counts };
const failed = [];
for await (const f of client.vectorStores.files.list(store.id, { filter: "failed" })) failed.push(f.last_error?.code);
out.failedCodes = failed;
const listed = [];
for await (const f of client.vectorStores.files.list(store.id, { limit: 2 })) listed.push(f.id);
out.listedCount = listed.length;
out.zeppelins = (await client.vectorStores.search(store.id, { query: "zeppelins" })).data.length;

const content = await client.vectorStores.files.content(single.id, { vector_store_id: store.id });
out.singleContent = content.data.map((c) => c.text);

const kept = await client.files.create({ file: await toFile(Buffer.from([0, 1, 2, 250, 255]), "raw.bin"), purpose: "user_data" });
out.download = [...Buffer.from(await (await client.files.content(kept.id)).arrayBuffer())];
out.assistantsDownload = await errorOf(() => client.files.content(Object.keys(names)[0]));
out.badFilter = await errorOf(() => client.vectorStores.search(store.id, { query: "x", filters: { type: "eq", key: "lang" } }));
await client.files.delete(kept.id);
out.deletedRetrieve = await errorOf(() => client.files.retrieve(kept.id));

console.log(JSON.stringify(out));
