// What the JS SDK scripts of tests/rules share: Firestore clients on the emulator (mock tokens), seeding
// with the rules bypassed, a one-shot listener, and the case runner that prints one line a case.
import { initializeApp } from "firebase/app";
import { connectFirestoreEmulator, getFirestore, onSnapshot, terminate } from "firebase/firestore";

export const PROJECT = process.env.GOOGLE_CLOUD_PROJECT || "demo-storyrec";
const [HOST, PORT] = (process.env.FIRESTORE_EMULATOR_HOST || "127.0.0.1:8080").split(":");
const apps = [];

export const str = (v) => ({ stringValue: v });

/**
 * A Firestore client signed in as `uid` (a mock token), or signed out for null. `provider` is the token's
 * `firebase.sign_in_provider` ("anonymous", "password", "google.com" ...; the SDK's default is "custom").
 */
export function client(uid, { provider } = {}) {
  const app = initializeApp({ projectId: PROJECT, apiKey: "fake-api-key" }, `app-${apps.length}`);
  const db = getFirestore(app);
  const token = { user_id: uid, sub: uid };
  if (provider) token.firebase = { sign_in_provider: provider, identities: {} };
  connectFirestoreEmulator(db, HOST, Number(PORT), uid ? { mockUserToken: token } : {});
  apps.push(db);
  return db;
}

/** Writes a document with the rules bypassed: the emulator treats "Bearer owner" as an admin. */
export async function seed(path, fields) {
  const url = `http://${HOST}:${PORT}/v1/projects/${PROJECT}/databases/(default)/documents/${path}`;
  const res = await fetch(url, {
    method: "PATCH",
    headers: { Authorization: "Bearer owner", "Content-Type": "application/json" },
    body: JSON.stringify({ fields }),
  });
  if (!res.ok) throw new Error(`seed ${path}: ${res.status} ${await res.text()}`);
}

export function listenOnce(ref) {
  return new Promise((resolve, reject) => {
    const stop = onSnapshot(ref, (snap) => { stop(); resolve(snap); }, (err) => reject(err));
  });
}

const allowOrDeny = (err) => (err?.code === "permission-denied" ? "deny" : "error");

/**
 * Runs `[expected, name, run]` cases in order; a case's outcome is `success` when `run` resolves,
 * `outcome(err)` when it throws. Prints one line a case; returns how many failed.
 */
export async function runCases(cases, { success = "allow", outcome = allowOrDeny, width = 5 } = {}) {
  let failed = 0;
  for (const [expected, name, run] of cases) {
    let actual;
    let detail = "";
    try {
      await run();
      actual = success;
    } catch (err) {
      actual = outcome(err);
      detail = `${err?.code ?? ""} ${String(err?.message ?? err).slice(0, 300)}`;
    }
    const ok = actual === expected;
    if (!ok) failed += 1;
    console.log(`${ok ? "ok  " : "FAIL"} ${expected.padEnd(width)} ${name}${ok ? "" : ` (got ${actual}) ${detail}`}`);
  }
  return failed;
}

/** Closes the clients made by `client` and exits 1 if anything failed. */
export async function finish(failed, total, label) {
  console.log(`${total - failed}/${total} ${label} passed`);
  await Promise.all(apps.map((db) => terminate(db)));
  process.exit(failed ? 1 : 0);
}
