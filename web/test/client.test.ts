import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { WellspringWebClient } from "../src/client.js";
import { WellspringError } from "../src/errors.js";
import { BadRequestSchema, ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { WatchResponseSchema } from "../src/gen/wellspring/v1/watch_service_pb.js";
import { FakeServer, event, fakeTiming, rateLimited } from "./fake.js";

function client(server: FakeServer, timing = fakeTiming().timing) {
  return new WellspringWebClient({ transport: server.transport(), timing, staleTimeMs: 60_000 });
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("batching", () => {
  it("coalesces concurrent gets of one collection into one BatchGet", async () => {
    const server = new FakeServer();
    for (let n = 0; n < 10; n++) server.put(`u${n}`);
    const c = client(server);
    const ids = Array.from({ length: 50 }, (_, n) => `u${n % 10}`);
    const users = await Promise.all(ids.map((id) => c.users.loader.load(id)));
    expect(users.map((u) => u.id)).toEqual(ids);
    expect(server.calls.BatchGetUsers).toBe(1);
    expect(server.batches[0]).toHaveLength(10);
  });

  it("fails only the missing ids of a batch", async () => {
    const server = new FakeServer();
    server.put("ada");
    const c = client(server);
    const [ada, ghost] = await Promise.allSettled([c.users.loader.load("ada"), c.users.loader.load("ghost")]);
    expect(ada.status === "fulfilled" && ada.value.id).toBe("ada");
    expect(ghost.status === "rejected" && (ghost.reason as WellspringError).resourceNames).toEqual(["ghost"]);
  });

  it("dedups identical in-flight queries in the query cache", async () => {
    const server = new FakeServer();
    server.put("ada");
    const c = client(server);
    await Promise.all([c.users.get("ada"), c.users.get("ada"), c.users.get("ada")]);
    await c.users.get("ada"); // fresh: from the cache
    expect(server.calls.BatchGetUsers).toBe(1);
  });
});

describe("errors", () => {
  it("carry the reason, field violations, resource names and RetryInfo", async () => {
    const server = new FakeServer();
    server.failures.BatchGetUsers = [
      new ConnectError("bad", Code.InvalidArgument, undefined, [
        { desc: ErrorInfoSchema, value: { reason: "INVALID_ARGUMENT", metadata: { field: "user.email" } } },
        {
          desc: BadRequestSchema,
          value: { fieldViolations: [{ field: "user.email", description: "not an email address" }] },
        },
      ]),
    ];
    const c = client(server);
    const error = await c.users.get("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WellspringError);
    const w = error as WellspringError;
    expect([w.code, w.reason, w.metadata.field]).toEqual([Code.InvalidArgument, "INVALID_ARGUMENT", "user.email"]);
    expect(w.violation("user.email")).toBe("not an email address");
    const limited = new WellspringError(ConnectError.from(rateLimited(1500)));
    expect([limited.reason, limited.retryAfterMs]).toEqual(["RATE_LIMITED", 1500]);
  });
});

describe("retries", () => {
  it("retry reads on UNAVAILABLE with backoff, honouring RetryInfo", async () => {
    const server = new FakeServer();
    server.put("ada");
    server.failures.BatchGetUsers = [new ConnectError("down", Code.Unavailable), rateLimited(700)];
    const { delays, timing } = fakeTiming();
    const c = client(server, timing);
    expect((await c.users.get("ada"))?.id).toBe("ada");
    expect(delays).toEqual([25, 700]); // half of the 50 ms cap (random 0.5), then the server's 700 ms
  });

  it("never retry a write on UNAVAILABLE, but do after RATE_LIMITED (it did not run)", async () => {
    const server = new FakeServer();
    const ada = server.put("ada");
    server.failures.UpdateUser = [rateLimited(200)];
    const c = client(server);
    expect((await c.users.update({ id: "ada", displayName: "Ada L." }, ["display_name"])).displayName).toBe("Ada L.");
    server.failures.UpdateUser = [new ConnectError("reset", Code.Unavailable)];
    await expect(c.users.update({ id: ada.id, displayName: "x" }, ["display_name"])).rejects.toMatchObject({
      code: Code.Unavailable,
    });
    expect(server.calls.UpdateUser).toBe(3);
  });

  it("roll an optimistic update back when the server refuses it", async () => {
    const server = new FakeServer();
    server.put("ada", "Ada");
    const c = client(server);
    await c.users.get("ada");
    const attempt = c.users.updateOptimistic({ id: "ada", displayName: "Stale", etag: "e-old" }, ["display_name"]);
    expect(c.queryClient.getQueryData<{ displayName: string }>(c.users.key("ada"))?.displayName).toBe("Stale");
    await expect(attempt).rejects.toMatchObject({ isConflict: true });
    expect(c.queryClient.getQueryData<{ displayName: string }>(c.users.key("ada"))?.displayName).toBe("Ada");
  });
});

describe("the Watch bridge", () => {
  it("updates cached Gets, evicts deleted ones and invalidates Lists", async () => {
    const server = new FakeServer();
    const ada = server.put("ada", "Ada");
    server.put("bob", "Bob");
    const c = client(server);
    await Promise.all([c.users.get("ada"), c.users.get("bob")]);
    await c.queryClient.fetchQuery({ queryKey: c.users.listKey(), queryFn: () => c.users.listPage({}) });
    c.start();
    server.feed.push(create(WatchResponseSchema, { revision: 5n }));
    await waitFor(() => c.bridge.status === "live");
    const renamed = server.put("ada", "Ada L.");
    server.feed.push(create(WatchResponseSchema, { revision: 6n, events: [event(6n, renamed)] }));
    server.feed.push(create(WatchResponseSchema, { revision: 7n, events: [event(7n, "bob", 3)] }));
    await waitFor(() => c.bridge.revision === 7n);
    expect(c.queryClient.getQueryData<{ displayName: string }>(c.users.key("ada"))?.displayName).toBe("Ada L.");
    expect(c.queryClient.getQueryData(c.users.key("bob"))).toBeNull();
    expect(c.queryClient.getQueryState(c.users.listKey())?.isInvalidated).toBe(true);
    expect(ada.displayName).toBe("Ada");
    await c.stop();
  });

  it("never stores a read that began before an event for its id", async () => {
    const server = new FakeServer();
    server.put("ada", "Ada");
    const c = client(server);
    c.start();
    server.feed.push(create(WatchResponseSchema, { revision: 1n }));
    await waitFor(() => c.bridge.status === "live");
    let release = () => {};
    server.hold = new Promise<void>((resolve) => (release = resolve));
    const reading = c.users.get("ada"); // its BatchGet answers the old value, after the event
    await waitFor(() => server.batches.length === 1);
    const newer = server.put("ada", "Ada (newer)");
    server.feed.push(create(WatchResponseSchema, { revision: 2n, events: [event(2n, newer)] }));
    await waitFor(() => c.bridge.revision === 2n);
    server.users.set("ada", { ...newer, displayName: "Ada" }); // what the held read would have seen
    release();
    const value = await reading;
    expect(value?.displayName).toBe("Ada (newer)");
    await c.stop();
  });

  it("resumes from the last revision after a disconnect, and from now after OUT_OF_RANGE", async () => {
    const server = new FakeServer();
    server.put("ada", "Ada");
    const c = client(server);
    await c.users.get("ada");
    c.start();
    server.feed.push(create(WatchResponseSchema, { revision: 10n }));
    await waitFor(() => c.bridge.status === "live");
    await c.queryClient.refetchQueries({ queryKey: c.users.key("ada") }); // read after the stream is live
    expect(c.queryClient.getQueryState(c.users.key("ada"))?.isInvalidated).toBe(false);
    server.feed.push(new ConnectError("gone", Code.Unavailable));
    await waitFor(() => server.feed.starts.length === 2);
    expect(server.feed.starts).toEqual([0n, 11n]);
    server.feed.push(create(WatchResponseSchema, { revision: 11n }));
    await waitFor(() => c.bridge.status === "live");
    expect(c.queryClient.getQueryState(c.users.key("ada"))?.isInvalidated).toBe(false); // resumed: kept
    server.feed.push(new ConnectError("compacted", Code.OutOfRange));
    await waitFor(() => server.feed.starts.length === 3);
    expect(server.feed.starts[2]).toBe(0n);
    server.feed.push(create(WatchResponseSchema, { revision: 40n }));
    await waitFor(() => c.bridge.status === "live");
    expect(c.bridge.revision).toBe(40n);
    expect(c.bridge.connects).toBe(3);
    // Events between 11 and 40 are lost to it: every cached read is refetched.
    expect(c.queryClient.getQueryState(c.users.key("ada"))?.isInvalidated).toBe(true);
    await c.stop();
  });
});

async function waitFor(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await tick();
  }
}
