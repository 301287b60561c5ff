// A reader's app as a site would write it: the Firebase SDK and storyrec's client imported by package name,
// pointed at the local emulators (test_bundle.py bundles this with esbuild and runs the bundle in Node).
import { initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth } from "firebase/auth";
import { connectFirestoreEmulator, getFirestore } from "firebase/firestore";
import { connectFunctionsEmulator, getFunctions } from "firebase/functions";
import { StoryrecClient, parseItems, storyrec } from "@storyrec/client";

export * from "@storyrec/client";

/** Initialises the app for the emulators and constructs storyrec's client; opens no connection. */
export function start(projectId, host = "127.0.0.1") {
  const app = initializeApp({ projectId, apiKey: "fake-api-key", appId: "1:1:web:1" });
  connectAuthEmulator(getAuth(app), `http://${host}:9099`, { disableWarnings: true });
  connectFirestoreEmulator(getFirestore(app), host, 8080);
  connectFunctionsEmulator(getFunctions(app, "us-central1"), host, 5001);
  const client = storyrec(app, { device: "bundle-check", sessionId: "bundle-session" });
  let signedOut = "";
  try {
    client.uid();
  } catch (err) {
    signedOut = String(err.message);
  }
  return {
    isClient: client instanceof StoryrecClient,
    projectId: client.app.options.projectId,
    // the client uses the app's own (emulator-connected) instances, from the one SDK copy in the bundle
    sameFirestore: client.db === getFirestore(app),
    sameAuth: client.auth === getAuth(app),
    sameFunctions: client.functions === getFunctions(app, "us-central1"),
    device: client.device,
    sessionId: client.sessionId,
    signedOut,
    parsed: parseItems('[{"storyId": "a", "score": 1}]').stories.map((s) => s.storyId),
  };
}
