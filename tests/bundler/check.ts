// Type-checks an app written against client/storyrec-client.d.ts (test_bundle.py runs `tsc --noEmit`).
import { initializeApp } from "firebase/app";
import { type FeedView, type ImpressionTracker, StoryrecClient, parseItems, storyrec } from "@storyrec/client";

const app = initializeApp({ projectId: "demo-storyrec" });
const client: StoryrecClient = storyrec(app, { device: "web", region: "us-central1" });
const stop: () => void = client.watchFeed((feed: FeedView | null) => {
  const first = feed?.stories[0];
  if (feed && first) {
    const { clickId, written } = client.recordClick(first.storyId, "open", feed, { value: 1 });
    void written.then(() => clickId.length);
    const tracker: ImpressionTracker = client.recordImpressions(feed, { dwellMs: 500 });
    tracker.stop();
  }
});
stop();
const stories: string[] = parseItems("[]").stories.map((s) => s.storyId);
void stories;
void client.refresh().then((r) => (r.kind === "personalized" ? r.items : 0));

// The declarations are precise, not `any`: each line below must be an error.
// @ts-expect-error "bogus" is not a click type
client.recordClick("s", "bogus");
// @ts-expect-error a list is "latest", a feed view, "feed" or nothing
client.recordClick("s", "open", "popular");
// @ts-expect-error sessionId is read-only
client.sessionId = "x";
// @ts-expect-error refresh() resolves to a summary, not a string
const wrong: Promise<string> = client.refresh();
void wrong;
