// Allow/deny cases for firestore.rules, run with the real Firebase JS SDK against the emulator
// started with --rules. Usage: FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT node rules.test.mjs
// The bad-input corpus of rules cases (tests/corpus/rules_cases.json) runs after the cases below.
import { readFileSync } from "node:fs";
import {
  Bytes, deleteDoc, doc, getDoc, getDocs, collection, query, serverTimestamp, setDoc, setLogLevel, Timestamp,
  updateDoc, where, writeBatch,
} from "firebase/firestore";
import { client, finish, runCases, seed, str } from "./harness.mjs";

setLogLevel("silent"); // denied writes are expected; the SDK would log each one

const anon = client(null);
const alice = client("alice");
const bob = client("bob");

function click(overrides = {}) {
  const base = {
    userId: "alice", storyId: "s1", type: "read", clientTime: Timestamp.now(),
    createdAt: serverTimestamp(), sessionId: "sess-1", device: "web", value: 12.5,
  };
  const out = { ...base, ...overrides };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

function impression(overrides = {}) {
  const base = {
    userId: "alice", storyIds: ["s1", "s2", "s3"], recommendationId: "rid-1", source: "storyrec-popular",
    clientTime: Timestamp.now(), createdAt: serverTimestamp(),
  };
  const out = { ...base, ...overrides };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

const cases = [
  ["allow", "owner creates own click", () => setDoc(doc(alice, "clicks/c-ok"), click())],
  ["allow", "owner creates minimal click", () =>
    setDoc(doc(alice, "clicks/c-min"), click({ sessionId: undefined, device: undefined, value: undefined }))],
  ["deny", "unauthenticated creates click", () => setDoc(doc(anon, "clicks/c-anon"), click())],
  ["deny", "user creates click for another uid", () => setDoc(doc(bob, "clicks/c-bob"), click())],
  ["deny", "click with unknown type", () => setDoc(doc(alice, "clicks/c-type"), click({ type: "follow" }))],
  ["deny", "click with client-chosen createdAt", () =>
    setDoc(doc(alice, "clicks/c-time"), click({ createdAt: Timestamp.now() }))],
  ["deny", "click without createdAt", () => setDoc(doc(alice, "clicks/c-nocreated"), click({ createdAt: undefined }))],
  ["deny", "click with extra field", () => setDoc(doc(alice, "clicks/c-extra"), click({ admin: true }))],
  ["deny", "click with comma in storyId", () => setDoc(doc(alice, "clicks/c-csv"), click({ storyId: "s1,s2" }))],
  ["deny", "click with negative value", () => setDoc(doc(alice, "clicks/c-neg"), click({ value: -1 }))],
  ["deny", "owner updates own click", () => updateDoc(doc(alice, "clicks/c-ok"), { type: "like" })],
  ["deny", "owner overwrites own click", () => setDoc(doc(alice, "clicks/c-ok"), click({ type: "like" }))],
  ["deny", "owner deletes own click", () => deleteDoc(doc(alice, "clicks/c-ok"))],
  ["deny", "owner reads own click back", () => getDoc(doc(alice, "clicks/c-ok"))],
  ["deny", "user lists clicks", () => getDocs(collection(bob, "clicks"))],
  ["allow", "owner reads own feed", () => getDoc(doc(alice, "feeds/alice"))],
  ["deny", "user reads another user's feed", () => getDoc(doc(bob, "feeds/alice"))],
  ["deny", "unauthenticated reads a feed", () => getDoc(doc(anon, "feeds/alice"))],
  ["deny", "owner writes own feed", () => setDoc(doc(alice, "feeds/alice"), { items: [] })],
  ["allow", "owner reads own profile", () => getDoc(doc(alice, "users/alice"))],
  ["allow", "owner updates own profile", () => setDoc(doc(alice, "users/alice"), { lang: "en" }, { merge: true })],
  ["deny", "user reads another user's profile", () => getDoc(doc(bob, "users/alice"))],
  ["deny", "user writes another user's profile", () => setDoc(doc(bob, "users/alice"), { lang: "pt" })],
  ["allow", "signed-in user reads a published story", () => getDoc(doc(alice, "stories/pub"))],
  ["deny", "unauthenticated reads a story", () => getDoc(doc(anon, "stories/pub"))],
  ["deny", "user writes a story", () => setDoc(doc(alice, "stories/s2"), { title: "x" })],
  ["deny", "owner reads own ml_interactions record", () => getDoc(doc(alice, "ml_interactions/c-ok"))],
  ["deny", "user reads ml_users", () => getDoc(doc(alice, "ml_users/alice"))],
  ["deny", "user lists ml_items", () => getDocs(collection(alice, "ml_items"))],
  ["deny", "user writes ml_quarantine", () => setDoc(doc(alice, "ml_quarantine/x"), { reason: "x" })],
  ["deny", "unauthenticated reads ml_state", () => getDoc(doc(anon, "ml_state/export"))],
];

// --- the corpus: data in, SDK calls out ------------------------------------------------------------
const corpus = JSON.parse(readFileSync(new URL("../corpus/rules_cases.json", import.meta.url), "utf8"));
const users = { alice, bob, null: anon };

function materialise(value) {
  if (Array.isArray(value)) return value.map(materialise);
  if (value === null || typeof value !== "object") return value;
  if ("$click" in value) return click(Object.fromEntries(
    Object.entries(value.$click).map(([k, v]) => [k, v === null ? undefined : materialise(v)])));
  if ("$impression" in value) return impression(Object.fromEntries(
    Object.entries(value.$impression).map(([k, v]) => [k, v === null ? undefined : materialise(v)])));
  if ("$ids" in value) return Array.from({ length: value.$ids[1] }, (_, i) => `${value.$ids[0]}${i}`);
  if ("$now" in value) return Timestamp.fromMillis(Date.now() + value.$now * 1000);
  if ("$epoch" in value) return Timestamp.fromMillis(value.$epoch * 1000);
  if ("$repeat" in value) return value.$repeat[0].repeat(value.$repeat[1]);
  if ("$bytes" in value) {
    return Object.fromEntries(Array.from({ length: value.$bytes }, (_, i) => [`b${i}`, Bytes.fromUint8Array(new Uint8Array([1]))]));
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, materialise(v)]));
}

/** `as` names a user above, or is `{uid, provider}` (values may use the data markers): a client of its own. */
function corpusClient(as) {
  if (as === null || typeof as !== "object") return users[as ?? "null"];
  return client(materialise(as.uid), { provider: as.provider });
}

/** `count` documents `${prefix}0`, `${prefix}1` ... written in ONE batched write; the last one holds `last` if given. */
function batchOf(db, prefix, count, data, last) {
  const batch = writeBatch(db);
  for (let i = 0; i < count; i += 1) batch.set(doc(db, `${prefix}${i}`), i === count - 1 && last ? last : data);
  return batch.commit();
}

function corpusCase(c) {
  const db = corpusClient(c.as);
  const run = () => {
    const data = c.data === undefined ? undefined : materialise(c.data);
    switch (c.op) {
      case "batch": return batchOf(db, c.path, c.count, data, c.last && materialise(c.last));
      case "set": return setDoc(doc(db, c.path), data, c.merge ? { merge: true } : {});
      case "update": return updateDoc(doc(db, c.path), data);
      case "delete": return deleteDoc(doc(db, c.path));
      case "get": return getDoc(doc(db, c.path));
      case "list": return getDocs(c.where ? query(collection(db, c.path), where(...c.where)) : collection(db, c.path));
      default: throw new Error(`unknown op ${c.op}`);
    }
  };
  return [c.expect, `corpus: ${c.name}`, run];
}

cases.push(...corpus.cases.map(corpusCase));

async function main() {
  await seed("stories/pub", { title: str("Published"), status: str("published") });
  await seed("stories/draft", { title: str("Draft"), status: str("draft") });
  await seed("feeds/alice", { items: { arrayValue: { values: [str("s1")] } } });
  await seed("feeds/bob", { items: { arrayValue: { values: [str("s1")] } } });
  await seed("users/alice", { lang: str("en") });
  await seed("stories/s1", { title: str("A story") });
  await seed("ml_interactions/c-ok", { USER_ID: str("alice") });
  await seed("ml_users/alice", { USER_ID: str("alice") });
  await seed("ml_state/export", { watermark: str("x") });

  await finish(await runCases(cases), cases.length, "rules cases");
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
