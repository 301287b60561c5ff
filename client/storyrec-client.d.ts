// Types of storyrec-client.js (docs/client.md).
import type { FirebaseApp } from "firebase/app";
import type { Auth } from "firebase/auth";
import type { Firestore } from "firebase/firestore";
import type { Functions } from "firebase/functions";

export type ClickType = "open" | "read" | "comment" | "like" | "save";
export type AttributionSource = "storyrec-control" | "storyrec-challenger" | "storyrec-popular" | "latest";
export type Arm = "champion" | "challenger" | "control";

export declare const CLICK_TYPES: readonly ClickType[];
export declare const SOURCES: readonly AttributionSource[];
export declare const MAX_IMPRESSION_STORIES: 25;
export declare const VISIBLE_RATIO: 0.5;
export declare const VISIBLE_MS: 1000;

/** One story of a feed, as the recommend function wrote it into `itemsJson`. */
export interface FeedStory {
  storyId: string;
  score: number | null;
  title: string;
  url: string | null;
  image: string | null;
  source: string | null;
}

/** The reader-facing view of `feeds/{uid}`. */
export interface FeedView {
  readonly uid: string;
  /** false: the reader has no feed yet (a new reader, before the first-feed function ran). */
  readonly exists: boolean;
  /** best first */
  readonly stories: FeedStory[];
  /** itemsJson was not a JSON array of stories (the stories that parsed are kept). */
  readonly malformed: boolean;
  readonly kind: "personalized" | "popular" | null;
  /** kind == "popular": the reader has no history Personalize can use yet. */
  readonly cold: boolean;
  /** Personalize failed for this reader: the feed is the previous one. */
  readonly stale: boolean;
  readonly staleReason: string | null;
  readonly arm: Arm | string | null;
  readonly experimentId: string | null;
  readonly recommendationId: string | null;
  readonly attributionSource: AttributionSource | null;
  readonly generatedAt: Date | null;
  /** the snapshot came from the local cache (offline, or before the server answered) */
  readonly fromCache: boolean;
}

/** Where a story was shown: "feed" (the feed watchFeed last delivered), a feed view, "latest", or nowhere. */
export type ListRef = "feed" | "latest" | FeedView | null | undefined;

export interface PendingWrite {
  /** resolves when the server acknowledged the write (never, while offline: the SDK queues it) */
  written: Promise<void>;
}

export interface ClientOptions {
  /** `device` on every click; default "web" */
  device?: string;
  /** `sessionId` on every click; default a random UUID per client */
  sessionId?: string;
  /** the refresh_feed callable's region; default "us-central1" */
  region?: string;
  functions?: Functions;
}

export interface ImpressionOptions {
  /** the scrolling ancestor; default the viewport */
  root?: Element | Document | null;
  /** default 0.5 */
  ratio?: number;
  /** default 1000 */
  dwellMs?: number;
  onWrite?: (write: PendingWrite & { impressionId: string; storyIds: string[] }) => void;
}

export declare class ImpressionTracker {
  observe(element: Element, storyId: string): void;
  counted(): string[];
  flush(): (PendingWrite & { impressionId: string }) | null;
  stop(): (PendingWrite & { impressionId: string }) | null;
}

export declare class StoryrecClient {
  constructor(app?: FirebaseApp, options?: ClientOptions);
  readonly app: FirebaseApp;
  readonly auth: Auth;
  readonly db: Firestore;
  readonly functions: Functions;
  readonly sessionId: string;
  /** the last feed view watchFeed delivered */
  readonly feed: FeedView | null;
  uid(): string;
  watchFeed(onChange: (feed: FeedView | null) => void, onError?: (err: Error) => void): () => void;
  recordClick(
    storyId: string,
    type: ClickType,
    list?: ListRef,
    options?: { value?: number; clickId?: string },
  ): PendingWrite & { clickId: string };
  recordImpressions(list: "latest" | FeedView, options?: ImpressionOptions): ImpressionTracker;
  writeImpression(
    storyIds: string[],
    fields: { recommendationId?: string; source?: AttributionSource },
  ): PendingWrite & { impressionId: string };
  refresh(): Promise<{ uid: string; kind: "personalized" | "popular"; stale: boolean; items: number }>;
}

export declare function storyrec(app?: FirebaseApp, options?: ClientOptions): StoryrecClient;
export declare function parseItems(itemsJson: unknown): { stories: FeedStory[]; malformed: boolean };
export declare function feedView(
  uid: string,
  data: Record<string, unknown> | null | undefined,
  metadata?: { fromCache?: boolean },
): FeedView;
