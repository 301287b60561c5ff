// storyrec's browser client: the reader's feed, impressions, clicks and refresh, as docs/client.md
// specifies them. Plain ES module, no build step; it imports the Firebase JS SDK by its bare names
// ("firebase/app", "firebase/auth", "firebase/firestore", "firebase/functions"), which a bundler
// resolves from the app's own `firebase` dependency and a page resolves with an import map.
import { getApp } from "firebase/app";
import { getAuth, onAuthStateChanged } from "firebase/auth";
import {
  Timestamp, collection, doc, getFirestore, onSnapshot, serverTimestamp, setDoc,
} from "firebase/firestore";
import { getFunctions, httpsCallable } from "firebase/functions";

/** Click types the rules accept (docs/capture.md). */
export const CLICK_TYPES = Object.freeze(["open", "read", "comment", "like", "save"]);
/** Event attribution sources a client may send (docs/client.md): a closed vocabulary. */
export const SOURCES = Object.freeze(["storyrec-control", "storyrec-challenger", "storyrec-popular", "latest"]);
/** At most this many story ids in one impressions document (Personalize's IMPRESSION limit). */
export const MAX_IMPRESSION_STORIES = 25;
/** The usual viewability definition: at least half of the card, for at least one second. */
export const VISIBLE_RATIO = 0.5;
export const VISIBLE_MS = 1000;

const MAX_ID = 256;
// what firestore.rules' isId() refuses, checked here first so a mistake fails loudly in the app's console
// instead of as a silent permission-denied in the write queue
const BAD_ID = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp},"|/]/u;
const FORMULA = /^[=+@-]/;
const SIGNED_NUMBER = /^[+-]?[0-9]+([.][0-9]+)?$/;

/** @param {unknown} value @param {string} what @returns {string} */
function checkId(value, what) {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID) {
    throw new TypeError(`${what} must be a string of 1 to ${MAX_ID} characters`);
  }
  if (BAD_ID.test(value) || (FORMULA.test(value) && !SIGNED_NUMBER.test(value))
      || value === "." || value === ".." || /^__.*__$/.test(value)) {
    throw new TypeError(`${what} holds characters storyrec does not accept: ${JSON.stringify(value.slice(0, 40))}`);
  }
  return value;
}

/** Parses a feed's `itemsJson`; anything malformed yields no stories rather than an exception. */
export function parseItems(itemsJson) {
  let items;
  try {
    items = typeof itemsJson === "string" ? JSON.parse(itemsJson) : [];
  } catch {
    return { stories: [], malformed: true };
  }
  if (!Array.isArray(items)) return { stories: [], malformed: true };
  const seen = new Set();
  const stories = [];
  for (const item of items) {
    if (item === null || typeof item !== "object" || typeof item.storyId !== "string" || seen.has(item.storyId)) {
      continue;
    }
    seen.add(item.storyId);
    stories.push({
      storyId: item.storyId,
      score: typeof item.score === "number" ? item.score : null,
      title: typeof item.title === "string" ? item.title : "",
      url: typeof item.url === "string" ? item.url : null,
      image: typeof item.image === "string" ? item.image : null,
      source: typeof item.source === "string" ? item.source : null,
    });
  }
  return { stories, malformed: stories.length !== items.length };
}

const str = (v) => (typeof v === "string" && v.length > 0 ? v : null);

/** The reader-facing view of a `feeds/{uid}` snapshot (or of its absence). */
export function feedView(uid, data, metadata = {}) {
  const exists = data !== null && data !== undefined;
  const { stories, malformed } = exists ? parseItems(data.itemsJson) : { stories: [], malformed: false };
  const kind = exists && (data.kind === "personalized" || data.kind === "popular") ? data.kind : null;
  const generatedAt = exists && data.generatedAt && typeof data.generatedAt.toDate === "function"
    ? data.generatedAt.toDate() : null;
  const attributionSource = exists && SOURCES.includes(data.attributionSource) ? data.attributionSource : null;
  return Object.freeze({
    uid,
    exists,
    stories,
    malformed,
    kind,
    cold: kind === "popular",
    stale: exists && data.stale === true,
    staleReason: exists ? str(data.staleReason) : null,
    arm: exists ? str(data.arm) : null,
    experimentId: exists ? str(data.experimentId) : null,
    recommendationId: exists ? str(data.recommendationId) : null,
    attributionSource,
    generatedAt,
    fromCache: Boolean(metadata.fromCache),
  });
}

/** The attribution fields a click or an impression carries for `list` ("latest", a feed view, or none). */
function attribution(list) {
  if (list === undefined || list === null) return {};
  if (list === "latest") return { source: "latest" };
  if (typeof list === "object" && "recommendationId" in list) {
    const out = {};
    if (list.recommendationId) out.recommendationId = checkId(list.recommendationId, "recommendationId");
    if (list.attributionSource) out.source = list.attributionSource;
    return out;
  }
  throw new TypeError('a list is "latest", a feed view from watchFeed, or nothing');
}

const randomId = () => (globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`);

/**
 * storyrec's client for the app's initialised Firebase app (any sign-in method; anonymous users' clicks are
 * refused by the rules). The Firestore instance is the app's own (`getFirestore(app)`), so the offline
 * persistence the app chose with `initializeFirestore` applies to every write made here.
 */
export class StoryrecClient {
  /**
   * @param {import("firebase/app").FirebaseApp} [app]
   * @param {{device?: string, sessionId?: string, region?: string, functions?: import("firebase/functions").Functions}} [options]
   */
  constructor(app = getApp(), options = {}) {
    this.app = app;
    this.auth = getAuth(app);
    this.db = getFirestore(app);
    this.functions = options.functions ?? getFunctions(app, options.region ?? "us-central1");
    this.device = options.device ?? "web";
    this.sessionId = checkId(options.sessionId ?? randomId(), "sessionId");
    /** The last feed view watchFeed delivered (what recordClick(…, "feed") attributes to). */
    this.feed = null;
  }

  /** The signed-in user's uid, or an error for a signed-out client. */
  uid() {
    const user = this.auth.currentUser;
    if (!user) throw new Error("storyrec: no reader is signed in");
    return user.uid;
  }

  /**
   * Listens to the signed-in reader's `feeds/{uid}` (following sign-in and sign-out); `onChange` gets a feed view
   * (null while signed out). Returns the function that stops listening.
   */
  watchFeed(onChange, onError = (err) => console.error("storyrec feed:", err)) {
    let stopDoc = () => {};
    const stopAuth = onAuthStateChanged(this.auth, (user) => {
      stopDoc();
      stopDoc = () => {};
      this.feed = null;
      if (!user) {
        onChange(null);
        return;
      }
      stopDoc = onSnapshot(
        doc(this.db, "feeds", user.uid),
        (snap) => {
          this.feed = feedView(user.uid, snap.exists() ? snap.data() : null, snap.metadata);
          onChange(this.feed);
        },
        onError,
      );
    });
    return () => {
      stopDoc();
      stopAuth();
    };
  }

  /**
   * Records one click in `clicks/{clickId}` and returns the click id at once (the write is queued locally,
   * and sent once, even across a period offline). `list` says where the story was shown: "feed" (the feed
   * watchFeed last delivered: its recommendationId and attributionSource go with the click), a feed view,
   * "latest", or nothing (the story was not picked from a list).
   * @returns {{clickId: string, written: Promise<void>}}
   */
  recordClick(storyId, type, list, { value, clickId } = {}) {
    checkId(storyId, "storyId");
    if (!CLICK_TYPES.includes(type)) throw new TypeError(`type must be one of ${CLICK_TYPES.join(", ")}`);
    const from = list === "feed" ? this.feed : list;
    if (list === "feed" && !from) throw new Error("storyrec: recordClick(…, \"feed\") before watchFeed delivered a feed");
    const data = {
      userId: this.uid(),
      storyId,
      type,
      clientTime: Timestamp.now(),
      createdAt: serverTimestamp(),
      sessionId: this.sessionId,
      device: this.device,
      ...attribution(from),
    };
    if (value !== undefined) {
      if (typeof value !== "number" || !(value >= 0 && value <= 86400)) throw new RangeError("value is 0 to 86,400");
      data.value = value;
    }
    const ref = clickId === undefined ? doc(collection(this.db, "clicks")) : doc(this.db, "clicks", checkId(clickId, "clickId"));
    return { clickId: ref.id, written: setDoc(ref, data) };
  }

  /**
   * Counts what the reader really saw of one list: at least half of a card visible for at least a second,
   * each story once. One tracker is one view of the list; its stories go into one `impressions/{id}`
   * document (client-generated id) when the view ends: `flush()`, `stop()`, the page being hidden, or 25
   * stories seen (the rest then start a new document). Cards are registered with `observe(element, storyId)`.
   * @param {object|"latest"} list a feed view from watchFeed, or "latest"
   */
  recordImpressions(list, { root = null, ratio = VISIBLE_RATIO, dwellMs = VISIBLE_MS, onWrite = () => {} } = {}) {
    return new ImpressionTracker(this, attribution(list), { root, ratio, dwellMs, onWrite });
  }

  /** Writes one impressions document (used by the tracker); returns its id and the pending write. */
  writeImpression(storyIds, fields) {
    if (!Array.isArray(storyIds) || storyIds.length < 1 || storyIds.length > MAX_IMPRESSION_STORIES) {
      throw new RangeError(`an impression holds 1 to ${MAX_IMPRESSION_STORIES} story ids`);
    }
    storyIds.forEach((id) => checkId(id, "storyId"));
    const ref = doc(collection(this.db, "impressions"));
    const data = { userId: this.uid(), storyIds, ...fields, clientTime: Timestamp.now(), createdAt: serverTimestamp() };
    return { impressionId: ref.id, written: setDoc(ref, data) };
  }

  /** Asks the `refresh_feed` callable to rebuild the signed-in reader's feed; resolves to `{uid, kind, stale, items}`. */
  async refresh() {
    this.uid();
    const { data } = await httpsCallable(this.functions, "refresh_feed", { timeout: 120_000 })({});
    return data;
  }
}

/** One view of one list: see StoryrecClient.recordImpressions. */
export class ImpressionTracker {
  constructor(client, fields, { root, ratio, dwellMs, onWrite }) {
    this.client = client;
    this.fields = fields;
    this.dwellMs = dwellMs;
    this.onWrite = onWrite;
    this.order = new Map(); // storyId -> position in the list
    this.ids = new WeakMap(); // element -> storyId
    this.timers = new Map(); // storyId -> pending dwell timer
    this.seen = new Set(); // counted in this view, written or not
    this.pending = []; // counted, not yet written
    this.writes = [];
    this.stopped = false;
    this.observer = new IntersectionObserver((entries) => this.#onEntries(entries), { root, threshold: [0, ratio] });
    this.ratio = ratio;
    this.onHidden = () => {
      if (document.visibilityState === "hidden") this.flush();
    };
    this.onPageHide = () => this.flush();
    document.addEventListener("visibilitychange", this.onHidden);
    globalThis.addEventListener?.("pagehide", this.onPageHide);
  }

  /** Starts watching the card `element` showing `storyId`. */
  observe(element, storyId) {
    checkId(storyId, "storyId");
    if (this.stopped) return;
    if (!this.order.has(storyId)) this.order.set(storyId, this.order.size);
    this.ids.set(element, storyId);
    this.observer.observe(element);
  }

  #onEntries(entries) {
    for (const entry of entries) {
      const storyId = this.ids.get(entry.target);
      if (storyId === undefined || this.seen.has(storyId)) continue;
      const visible = entry.isIntersecting && entry.intersectionRatio >= this.ratio;
      if (visible && !this.timers.has(storyId) && document.visibilityState !== "hidden") {
        this.timers.set(storyId, setTimeout(() => this.#count(storyId, entry.target), this.dwellMs));
      } else if (!visible && this.timers.has(storyId)) {
        clearTimeout(this.timers.get(storyId));
        this.timers.delete(storyId);
      }
    }
  }

  #count(storyId, element) {
    this.timers.delete(storyId);
    if (this.stopped || this.seen.has(storyId)) return;
    this.seen.add(storyId);
    this.pending.push(storyId);
    this.observer.unobserve(element);
    if (this.pending.length >= MAX_IMPRESSION_STORIES) this.flush();
  }

  /** The story ids counted so far in this view, in list order. */
  counted() {
    return [...this.seen].sort((a, b) => this.order.get(a) - this.order.get(b));
  }

  /** Writes what was counted and not yet written as one impressions document; null when there was nothing. */
  flush() {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    if (this.pending.length === 0) return null;
    const storyIds = this.pending.sort((a, b) => this.order.get(a) - this.order.get(b)).slice(0, MAX_IMPRESSION_STORIES);
    this.pending = this.pending.slice(storyIds.length);
    const write = this.client.writeImpression(storyIds, this.fields);
    this.writes.push(write);
    this.onWrite({ ...write, storyIds });
    return write;
  }

  /** Ends the view: writes what is pending and stops observing. */
  stop() {
    if (this.stopped) return null;
    const write = this.flush();
    this.stopped = true;
    this.observer.disconnect();
    document.removeEventListener("visibilitychange", this.onHidden);
    globalThis.removeEventListener?.("pagehide", this.onPageHide);
    return write;
  }
}

/** Shorthand: `storyrec(app, options)` is `new StoryrecClient(app, options)`. */
export function storyrec(app, options) {
  return new StoryrecClient(app, options);
}
