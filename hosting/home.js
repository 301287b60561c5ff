// storyrec's reference homepage: sign-in, "Recommended for you" from the reader's feed, "Latest", the stale
// and cold badges, impressions of what was really seen, and click-through that records the click.
// Everything storyrec-specific goes through the client module (../client/storyrec-client.js).
import { initializeApp } from "firebase/app";
import {
  connectAuthEmulator, getAuth, onAuthStateChanged, signInWithEmailAndPassword, signOut,
} from "firebase/auth";
import {
  collection, connectFirestoreEmulator, getDocs, initializeFirestore, limit, orderBy,
  persistentLocalCache, persistentMultipleTabManager, query, where,
} from "firebase/firestore";
import { connectFunctionsEmulator, getFunctions } from "firebase/functions";
import { StoryrecClient } from "@storyrec/client";

const $ = (id) => document.getElementById(id);
const LATEST = 10;

/** The app's Firebase config: storyrec-config.json beside the page (the emulators' launcher writes one), else Hosting's own. */
async function loadConfig() {
  for (const url of ["storyrec-config.json", "/__/firebase/init.json"]) {
    const res = await fetch(url).catch(() => null);
    if (res?.ok) {
      const body = await res.json();
      return body.firebase ? body : { firebase: body, emulators: {} };
    }
  }
  throw new Error("no Firebase configuration found");
}

const hostPort = (value) => {
  const [host, port] = value.split(":");
  return [host, Number(port)];
};

function card(story, onOpen) {
  const li = document.createElement("li");
  li.className = "card";
  li.dataset.storyId = story.storyId;
  const a = document.createElement("a");
  a.textContent = story.title || story.storyId;
  a.href = story.url && /^https?:\/\//.test(story.url) ? story.url : "#";
  a.target = "_blank";
  a.rel = "noopener";
  a.addEventListener("click", (event) => {
    if (a.getAttribute("href") === "#") event.preventDefault();
    onOpen(story.storyId);
  });
  const source = document.createElement("div");
  source.className = "source";
  source.textContent = story.source ?? "";
  li.append(a, source);
  return li;
}

function badge(kind, text, title = "") {
  const span = document.createElement("span");
  span.className = `badge ${kind}`;
  span.textContent = text;
  if (title) span.title = title;
  return span;
}

async function main() {
  const config = await loadConfig();
  const app = initializeApp(config.firebase);
  const emulators = config.emulators ?? {};
  // the app chooses Firestore's cache before anything uses it: writes made offline are kept and sent once
  const db = initializeFirestore(app, { localCache: persistentLocalCache({ tabManager: persistentMultipleTabManager() }) });
  const auth = getAuth(app);
  const functions = getFunctions(app);
  if (emulators.auth) connectAuthEmulator(auth, `http://${emulators.auth}`, { disableWarnings: true });
  if (emulators.firestore) connectFirestoreEmulator(db, ...hostPort(emulators.firestore));
  if (emulators.functions) connectFunctionsEmulator(functions, ...hostPort(emulators.functions));

  const storyrec = new StoryrecClient(app, { functions });
  const state = { clicks: [], feedTracker: null, latestTracker: null, feedKey: null, impressions: [] };
  const say = (text) => { $("message").textContent = text; };
  const showClicks = () => {
    const pending = state.clicks.filter((c) => !c.done).length;
    $("clicks").textContent = `${state.clicks.length} clicks recorded, ${pending} waiting to be sent`;
  };
  const showNet = () => { $("net").textContent = navigator.onLine ? "online" : "offline: clicks are queued"; };
  addEventListener("online", showNet);
  addEventListener("offline", showNet);
  showNet();

  const open = (list) => (storyId) => {
    try {
      const click = storyrec.recordClick(storyId, "open", list);
      const entry = { id: click.clickId, storyId, done: false, error: null, written: click.written };
      state.clicks.push(entry);
      click.written.then(
        () => { entry.done = true; showClicks(); },
        (err) => { entry.done = true; entry.error = err.code ?? String(err); say(`click refused: ${entry.error}`); showClicks(); },
      );
      showClicks();
    } catch (err) {
      say(String(err.message ?? err));
    }
  };
  // marks the cards an impression counted, in the list it was made for
  const tracked = (listId) => (write) => {
    state.impressions.push(write);
    write.written.catch((err) => say(`impression refused: ${err.code ?? err}`));
    for (const id of write.storyIds) $(listId).querySelector(`[data-story-id="${CSS.escape(id)}"]`)?.classList.add("seen");
  };

  function renderFeed(feed) {
    const list = $("feed-list");
    const badges = $("badges");
    badges.replaceChildren();
    if (!feed) {
      state.feedTracker?.stop();
      state.feedTracker = null;
      state.feedKey = null;
      list.replaceChildren();
      $("feed-meta").textContent = "";
      return;
    }
    if (feed.stale) badges.append(badge("stale", "stale", feed.staleReason ?? ""));
    if (feed.cold) badges.append(badge("cold", "popular picks"));
    if (feed.arm) badges.append(badge("arm", feed.arm));
    $("feed-meta").textContent = !feed.exists ? "No feed yet: it is being prepared."
      : feed.cold ? "Popular stories: read a few and your own recommendations follow."
      : feed.stale ? "We could not update your recommendations; these are your previous ones."
      : `Picked for you${feed.generatedAt ? ` on ${feed.generatedAt.toLocaleString()}` : ""}.`;
    // one feed view per distinct list: a cache snapshot followed by the same list from the server is one view
    const key = JSON.stringify([feed.recommendationId, feed.generatedAt?.getTime(), feed.stories.map((s) => s.storyId)]);
    if (key === state.feedKey) return;
    state.feedKey = key;
    state.feedTracker?.stop();
    const cards = feed.stories.map((s) => card(s, open(feed)));
    list.replaceChildren(...cards);
    state.feedTracker = feed.stories.length ? storyrec.recordImpressions(feed, { onWrite: tracked("feed-list") }) : null;
    cards.forEach((el, i) => state.feedTracker.observe(el, feed.stories[i].storyId));
  }

  async function loadLatest() {
    const snap = await getDocs(query(collection(db, "stories"), where("status", "==", "published"),
      orderBy("publishedAt", "desc"), limit(LATEST)));
    const stories = snap.docs.map((d) => ({ storyId: d.id, title: d.get("title"), url: d.get("url"), source: d.get("source") }));
    state.latestTracker?.stop();
    const cards = stories.map((s) => card(s, open("latest")));
    $("latest-list").replaceChildren(...cards);
    state.latestTracker = storyrec.recordImpressions("latest", { onWrite: tracked("latest-list") });
    cards.forEach((el, i) => state.latestTracker.observe(el, stories[i].storyId));
  }

  $("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signInWithEmailAndPassword(auth, $("email").value, $("password").value);
      say("");
    } catch (err) {
      say(`sign-in failed: ${err.code ?? err}`);
    }
  });
  $("sign-out").addEventListener("click", () => signOut(auth));
  $("refresh").addEventListener("click", async () => {
    say("refreshing…");
    try {
      const result = await storyrec.refresh();
      say(`feed refreshed: ${result.items} stories (${result.kind}${result.stale ? ", stale" : ""})`);
    } catch (err) {
      say(`refresh failed: ${err.code ?? err}`);
    }
  });

  storyrec.watchFeed(renderFeed, (err) => say(`feed unavailable: ${err.code ?? err}`));
  onAuthStateChanged(auth, (user) => {
    $("sign-in").hidden = Boolean(user);
    $("account").hidden = !user;
    $("who").textContent = user ? (user.email ?? user.uid) : "";
    document.body.dataset.uid = user?.uid ?? "";
    if (user) {
      loadLatest().catch((err) => say(`latest stories unavailable: ${err.code ?? err}`));
    } else {
      state.latestTracker?.stop();
      $("latest-list").replaceChildren();
    }
  });
  // for tests and the curious: the page's client and what it has recorded
  window.storyrecHome = {
    client: storyrec,
    db,
    clicks: state.clicks,
    impressions: state.impressions,
    flushImpressions: () => [state.feedTracker?.flush(), state.latestTracker?.flush()].filter(Boolean).map((w) => w.impressionId),
  };
  document.body.dataset.ready = "true";
}

main().catch((err) => {
  document.getElementById("message").textContent = `the page could not start: ${err.message ?? err}`;
});
