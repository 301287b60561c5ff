// feeds/{uid} under firestore.rules, with the real Firebase JS SDK against the emulator started with
// --rules: the owner may read (get or listen to) its feed; nobody else may read it; no client may write.
// Usage: FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT node feeds.test.mjs
import {
  collection, deleteDoc, doc, getDoc, getDocs, query, setDoc, setLogLevel, updateDoc, where,
} from "firebase/firestore";
import { client, finish, listenOnce, runCases, seed, str } from "./harness.mjs";

setLogLevel("silent");

const feed = (uid) => ({
  uid: str(uid), kind: str("personalized"), stale: { booleanValue: false },
  storyIds: { arrayValue: { values: [str("s1"), str("s2")] } },
});
const anon = client(null);
const alice = client("alice");
const bob = client("bob");
const mallory = client("feeds"); // a uid equal to the collection's name must not widen anything

const cases = [
  ["allow", "owner gets own feed", async () => {
    const snap = await getDoc(doc(alice, "feeds/alice"));
    if (snap.get("storyIds")?.length !== 2) throw new Error("feed content not readable");
  }],
  ["allow", "owner listens to own feed", () => listenOnce(doc(alice, "feeds/alice"))],
  ["allow", "owner gets own feed before it exists", () => getDoc(doc(bob, "feeds/bob"))],
  ["deny", "user gets another user's feed", () => getDoc(doc(bob, "feeds/alice"))],
  ["deny", "user listens to another user's feed", () => listenOnce(doc(bob, "feeds/alice"))],
  ["deny", "unauthenticated gets a feed", () => getDoc(doc(anon, "feeds/alice"))],
  ["deny", "user lists feeds", () => getDocs(collection(alice, "feeds"))],
  ["deny", "user queries feeds by own uid field", () =>
    getDocs(query(collection(alice, "feeds"), where("uid", "==", "alice")))],
  ["deny", "odd uid lists feeds", () => getDocs(collection(mallory, "feeds"))],
  ["deny", "owner creates own feed", () => setDoc(doc(alice, "feeds/alice-new"), { storyIds: [] })],
  ["deny", "owner overwrites own feed", () => setDoc(doc(alice, "feeds/alice"), { storyIds: ["x"] })],
  ["deny", "owner clears the stale flag", () => updateDoc(doc(alice, "feeds/alice"), { stale: false })],
  ["deny", "owner merges into own feed", () => setDoc(doc(alice, "feeds/alice"), { kind: "x" }, { merge: true })],
  ["deny", "owner deletes own feed", () => deleteDoc(doc(alice, "feeds/alice"))],
  ["deny", "user writes another user's feed", () => setDoc(doc(bob, "feeds/alice"), { storyIds: [] })],
  ["deny", "unauthenticated writes a feed", () => setDoc(doc(anon, "feeds/carol"), { storyIds: [] })],
];

async function main() {
  await seed("feeds/alice", feed("alice"));
  await finish(await runCases(cases), cases.length, "feeds rules cases");
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
