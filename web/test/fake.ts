/** An in-memory Wellspring for the unit tests, on connect's router transport (the standard fake): users
 * in a map, every call counted, BatchGets held on request, a Watch stream the test feeds. */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { ErrorInfoSchema, ResourceInfoSchema, RetryInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { type User, UserSchema } from "../src/gen/wellspring/v1/resources_pb.js";
import { UserService } from "../src/gen/wellspring/v1/user_service_pb.js";
import { ChangeEvent_Kind, type WatchResponse, WatchService } from "../src/gen/wellspring/v1/watch_service_pb.js";

export class Feed {
  private queue: (WatchResponse | Error)[] = [];
  private wake: (() => void) | null = null;
  starts: bigint[] = [];

  push(item: WatchResponse | Error): void {
    this.queue.push(item);
    this.wake?.();
  }

  async *stream(start: bigint, signal: AbortSignal): AsyncGenerator<WatchResponse> {
    this.starts.push(start);
    while (!signal.aborted) {
      const next = this.queue.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          signal.addEventListener("abort", () => resolve());
        });
        continue;
      }
      if (next instanceof Error) throw next;
      yield next;
    }
  }
}

export class FakeServer {
  users = new Map<string, User>();
  calls: Record<string, number> = {};
  batches: string[][] = [];
  failures: Record<string, ConnectError[]> = {};
  hold: Promise<void> | null = null;
  feed = new Feed();

  put(id: string, name = id): User {
    const user = create(UserSchema, { id, email: `${id}@x.test`, displayName: name, etag: `e-${name}`, updateTime: timestampNow() });
    this.users.set(id, user);
    return user;
  }

  private count(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    const failure = this.failures[method]?.shift();
    if (failure) throw failure;
  }

  transport() {
    return createRouterTransport(({ service }) => {
      service(UserService, {
        getUser: (request) => {
          this.count("GetUser");
          const user = this.users.get(request.id);
          if (!user) throw notFound([request.id]);
          return user;
        },
        batchGetUsers: async (request) => {
          this.count("BatchGetUsers");
          this.batches.push([...request.ids]);
          if (this.hold) await this.hold;
          const missing = request.ids.filter((id) => !this.users.has(id));
          if (missing.length) throw notFound(missing);
          return { users: request.ids.map((id) => this.users.get(id) as User) };
        },
        listUsers: (request) => {
          this.count("ListUsers");
          const all = [...this.users.values()].filter((u) => u.displayName.startsWith(request.query));
          return { users: all };
        },
        updateUser: (request) => {
          this.count("UpdateUser");
          const current = this.users.get(request.user?.id ?? "");
          if (!current) throw notFound([request.user?.id ?? ""]);
          if (request.user?.etag && request.user.etag !== current.etag) {
            throw new ConnectError("etag mismatch", Code.Aborted, undefined, [
              { desc: ErrorInfoSchema, value: { reason: "ETAG_MISMATCH", domain: "wellspring.v1" } },
            ]);
          }
          return this.put(current.id, request.user?.displayName ?? current.displayName);
        },
      });
      service(WatchService, {
        watch: (request, context) => this.feed.stream(request.startRevision, context.signal),
      });
    });
  }
}

export function notFound(ids: string[]): ConnectError {
  return new ConnectError(
    `users not found: ${ids.join(", ")}`,
    Code.NotFound,
    undefined,
    ids.map((id) => ({ desc: ResourceInfoSchema, value: { resourceType: "user", resourceName: id } })),
  );
}

export function rateLimited(ms: number): ConnectError {
  return new ConnectError("rate limit", Code.ResourceExhausted, undefined, [
    { desc: ErrorInfoSchema, value: { reason: "RATE_LIMITED", domain: "wellspring.v1" } },
    { desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 } } },
  ]);
}

export function event(revision: bigint, user: User | string, kind = ChangeEvent_Kind.UPDATED) {
  const id = typeof user === "string" ? user : user.id;
  const resource = typeof user === "string" ? { case: undefined } : { case: "user" as const, value: user };
  return { revision, kind, collection: "users", id, resource };
}

/** A fake sleep: records each wait and returns at once. */
export function fakeTiming() {
  const delays: number[] = [];
  return { delays, timing: { sleep: async (ms: number) => void delays.push(ms), random: () => 0.5 } };
}
