// The refresh_feed callable and feeds/{uid}, as an app's clients reach them: the real Firebase JS SDK
// (firebase/auth on the Auth emulator, firebase/functions on the Functions emulator running the real Python
// function, firebase/firestore on the Firestore emulator evaluating firestore.rules).
// Usage (tests/e2e/recommend/test_refresh_auth.py sets these):
//   FIRESTORE_EMULATOR_HOST=… FIREBASE_AUTH_EMULATOR_HOST=… FUNCTIONS_EMULATOR_HOST=… GOOGLE_CLOUD_PROJECT=…
//   REFRESH_OWNER=<uid with history> REFRESH_OTHER=<uid whose feed was seeded> node refresh_auth.test.mjs
import { initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth, signInWithCustomToken, signOut } from "firebase/auth";
import {
  collection, connectFirestoreEmulator, deleteDoc, doc, getDoc, getDocs, getFirestore, query,
  setDoc, setLogLevel, terminate, updateDoc, where,
} from "firebase/firestore";
import { connectFunctionsEmulator, getFunctions, httpsCallable } from "firebase/functions";
import { listenOnce, runCases } from "./harness.mjs";

setLogLevel("silent");

const PROJECT = process.env.GOOGLE_CLOUD_PROJECT || "demo-storyrec";
const hostPort = (name) => {
  const [host, port] = (process.env[name] || "").split(":");
  if (!host || !port) throw new Error(`${name} is not set`);
  return [host, Number(port)];
};
const FIRESTORE = hostPort("FIRESTORE_EMULATOR_HOST");
const AUTH = hostPort("FIREBASE_AUTH_EMULATOR_HOST");
const FUNCTIONS = hostPort("FUNCTIONS_EMULATOR_HOST");
const OWNER = process.env.REFRESH_OWNER;
const OTHER = process.env.REFRESH_OTHER;
if (!OWNER || !OTHER) throw new Error("REFRESH_OWNER and REFRESH_OTHER are required");
const MIB = "x".repeat(1 << 20);
const sessions = [];

// One app per client: its own Auth user, and the Firestore and Functions clients that carry its ID token.
async function session(uid) {
  const app = initializeApp({ projectId: PROJECT, apiKey: "fake-api-key" }, `client-${sessions.length}`);
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://${AUTH[0]}:${AUTH[1]}`, { disableWarnings: true });
  const db = getFirestore(app);
  connectFirestoreEmulator(db, ...FIRESTORE);
  const functions = getFunctions(app); // us-central1, the Python function's default region
  connectFunctionsEmulator(functions, ...FUNCTIONS);
  if (uid !== null) {
    // the Auth emulator takes a plain JSON custom token; it then issues an ID token for this uid
    const { user } = await signInWithCustomToken(auth, JSON.stringify({ uid }));
    if (user.uid !== uid) throw new Error(`signed in as ${user.uid}, not ${uid}`);
  }
  const refresh = httpsCallable(functions, "refresh_feed", { timeout: 120_000 });
  const s = { uid, auth, db, refresh };
  sessions.push(s);
  return s;
}

// The SDK's error codes: "functions/<code>" from the callable, "<code>" from Firestore.
const codeOf = (err) => String(err?.code ?? "thrown").replace(/^functions\//, "");

async function main() {
  const anon = await session(null);
  const owner = await session(OWNER);
  const other = await session(OTHER);
  const odd = await session("odd,uid"); // a uid Firebase Auth accepts but capture never would
  const otherBefore = JSON.stringify((await getDoc(doc(other.db, `feeds/${OTHER}`))).data());

  const refreshedBy = (s, data) => async () => {
    const { data: result } = await s.refresh(data);
    if (result?.uid !== s.uid || !(result.items > 0) || result.stale !== false) {
      throw new Error(`unexpected result ${JSON.stringify(result)}`);
    }
    const feed = await getDoc(doc(s.db, `feeds/${s.uid}`)); // read back through the rules, as the app does
    // the homepage's read: the ranked stories are one JSON string
    const items = feed.exists() ? JSON.parse(feed.get("itemsJson") ?? "[]") : [];
    if (items.length !== result.items || !items.every((i) => i.storyId) || feed.get("kind") !== result.kind) {
      throw new Error(`feed does not match the result: ${JSON.stringify(feed.data())}`);
    }
  };
  const callable = [
    // [expected outcome: "ok" or an error code, name, call]
    ["unauthenticated", "a signed-out client refreshes", () => anon.refresh({})],
    ["unauthenticated", "a signed-out client names a uid", () => anon.refresh({ uid: OWNER })],
    ["ok", "the owner refreshes with {}", refreshedBy(owner, {})],
    ["ok", "the owner refreshes naming its own uid", refreshedBy(owner, { uid: OWNER })],
    ["ok", "the owner refreshes with no data", refreshedBy(owner, undefined)],
    ["permission-denied", "a user refreshes another user's feed", () => owner.refresh({ uid: OTHER })],
    ["permission-denied", "a user refreshes a feed that does not exist yet", () => owner.refresh({ uid: "carol" })],
    ["invalid-argument", "data is a string", () => owner.refresh(OWNER)],
    ["invalid-argument", "data is a number", () => owner.refresh(42)],
    ["invalid-argument", "data is a boolean", () => owner.refresh(true)],
    ["invalid-argument", "data is a list", () => owner.refresh([OWNER])],
    ["invalid-argument", "uid is a number", () => owner.refresh({ uid: 42 })],
    ["invalid-argument", "uid is null", () => owner.refresh({ uid: null })],
    ["invalid-argument", "uid is an object", () => owner.refresh({ uid: { uid: OWNER } })],
    ["invalid-argument", "uid is a list", () => owner.refresh({ uid: [OWNER] })],
    ["invalid-argument", "uid is empty", () => owner.refresh({ uid: "" })],
    ["invalid-argument", "uid is 1 MiB", () => owner.refresh({ uid: MIB })],
    ["invalid-argument", "uid is 257 characters", () => owner.refresh({ uid: "u".repeat(257) })],
    ["invalid-argument", "uid ends with a newline", () => owner.refresh({ uid: `${OWNER}\n` })],
    ["invalid-argument", "uid holds a NUL", () => owner.refresh({ uid: `${OWNER}\u0000` })],
    ["invalid-argument", "uid holds a bidi override", () => owner.refresh({ uid: `\u202e${OWNER}` })],
    ["invalid-argument", "uid is a path", () => owner.refresh({ uid: `${OWNER}/../${OTHER}` })],
    ["invalid-argument", "uid is a reserved id", () => owner.refresh({ uid: "__name__" })],
    ["invalid-argument", "uid is a spreadsheet formula", () => owner.refresh({ uid: "=HYPERLINK(1)" })],
    ["invalid-argument", "an extra field next to the own uid", () => owner.refresh({ uid: OWNER, all: true })],
    ["invalid-argument", "an extra 1 MiB field", () => owner.refresh({ junk: MIB })],
    ["unauthenticated", "a signed-out client's malformed payload (sign-in is checked first)", () => anon.refresh(42)],
    ["failed-precondition", "a uid that cannot be a feed id refreshes its own feed", () => odd.refresh({})],
  ];
  const rules = [
    ["ok", "the owner gets its feed", () => getDoc(doc(owner.db, `feeds/${OWNER}`))],
    ["ok", "the owner listens to its feed", () => listenOnce(doc(owner.db, `feeds/${OWNER}`))],
    ["ok", "the other user gets its own feed", () => getDoc(doc(other.db, `feeds/${OTHER}`))],
    ["permission-denied", "a user gets another user's feed", () => getDoc(doc(other.db, `feeds/${OWNER}`))],
    ["permission-denied", "a user listens to another user's feed", () => listenOnce(doc(other.db, `feeds/${OWNER}`))],
    ["permission-denied", "a signed-out client gets a feed", () => getDoc(doc(anon.db, `feeds/${OWNER}`))],
    ["permission-denied", "the owner lists feeds", () => getDocs(collection(owner.db, "feeds"))],
    ["permission-denied", "the owner queries feeds by its uid", () =>
      getDocs(query(collection(owner.db, "feeds"), where("uid", "==", OWNER)))],
    ["permission-denied", "the owner creates a feed", () => setDoc(doc(owner.db, `feeds/${OWNER}-2`), { storyIds: [] })],
    ["permission-denied", "the owner overwrites its feed", () => setDoc(doc(owner.db, `feeds/${OWNER}`), { storyIds: ["x"] })],
    ["permission-denied", "the owner clears its stale flag", () => updateDoc(doc(owner.db, `feeds/${OWNER}`), { stale: false })],
    ["permission-denied", "the owner deletes its feed", () => deleteDoc(doc(owner.db, `feeds/${OWNER}`))],
    ["permission-denied", "a user deletes another user's feed", () => deleteDoc(doc(owner.db, `feeds/${OTHER}`))],
    ["permission-denied", "a user overwrites another user's feed", () => setDoc(doc(owner.db, `feeds/${OTHER}`), { storyIds: ["x"] })],
    ["permission-denied", "a signed-out client creates a feed", () => setDoc(doc(anon.db, "feeds/carol"), { storyIds: [] })],
  ];

  let failed = await runCases([...callable, ...rules], { success: "ok", outcome: codeOf, width: 19 });
  // the refused refresh left the other user's feed exactly as it was (read by its owner, through the rules)
  const otherAfter = JSON.stringify((await getDoc(doc(other.db, `feeds/${OTHER}`))).data());
  const unchanged = otherAfter === otherBefore && otherBefore !== undefined;
  if (!unchanged) failed += 1;
  console.log(`${unchanged ? "ok  " : "FAIL"} unchanged           the other user's feed after the refused refresh`);
  const total = callable.length + rules.length + 1;
  console.log(`${total - failed}/${total} refresh and feed cases passed`);
  await Promise.all(sessions.map((s) => signOut(s.auth).then(() => terminate(s.db))));
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
