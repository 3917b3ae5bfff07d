/**
 * The browser's client: connect-web's grpc-web transport (through Envoy), TanStack Query's cache (stale
 * time, garbage collection, dedup of identical in-flight queries), concurrent Gets of a collection
 * coalesced into BatchGets (`batcher.ts`), reads retried (`retry.ts`), errors typed (`errors.ts`), and
 * the cache kept coherent by one Watch stream (`watch-bridge.ts`).
 */
import { create } from "@bufbuild/protobuf";
import type { DescService } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { type Transport, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { QueryClient, type QueryKey } from "@tanstack/query-core";
import type DataLoader from "dataloader";
import { batchLoader } from "./batcher.js";
import { toWellspringError } from "./errors.js";
import { CommentService } from "./gen/wellspring/v1/comment_service_pb.js";
import { PostService } from "./gen/wellspring/v1/post_service_pb.js";
import type { Comment, Post, User } from "./gen/wellspring/v1/resources_pb.js";
import { UserService } from "./gen/wellspring/v1/user_service_pb.js";
import { WatchService } from "./gen/wellspring/v1/watch_service_pb.js";
import { DEFAULT_RETRY, type RetryPolicy, type RetryTiming, realTiming, withRetry } from "./retry.js";
import { Credentials, type TokenSource } from "./tokens.js";
import { tracingInterceptor } from "./tracing.js";
import { WatchBridge, getKey, listKey } from "./watch-bridge.js";

export interface WebClientOptions {
  /** Envoy's URL (grpc-web), e.g. http://127.0.0.1:8080. */
  baseUrl?: string;
  /** Instead of ``baseUrl``: any connect transport (tests pass an in-memory router transport). */
  transport?: Transport;
  token?: TokenSource;
  queryClient?: QueryClient;
  staleTimeMs?: number;
  timeoutMs?: number;
  retry?: RetryPolicy;
  timing?: RetryTiming;
  /** A CLIENT span per call and its `traceparent` sent (./tracing.ts): on with an OpenTelemetry SDK
   * registered in the page, a no-op without one. Default true. */
  tracing?: boolean;
}

interface Definition {
  service: DescService;
  singular: string;
  plural: string;
  field: string; // the resource's field in Create and Update requests
}

const DEFINITIONS = {
  users: { service: UserService, singular: "User", plural: "Users", field: "user" },
  posts: { service: PostService, singular: "Post", plural: "Posts", field: "post" },
  comments: { service: CommentService, singular: "Comment", plural: "Comments", field: "comment" },
} as const satisfies Record<string, Definition>;

export type CollectionName = keyof typeof DEFINITIONS;

export interface Page<R> {
  items: R[];
  nextPageToken: string;
}

/** One collection's calls, each through the query cache where it reads. */
export class Collection<R extends { id: string; etag: string }> {
  private readonly rpc: Record<string, (request: unknown, options?: unknown) => unknown>;
  readonly loader: DataLoader<string, R>;

  constructor(
    private readonly owner: WellspringWebClient,
    readonly name: CollectionName,
    private readonly def: Definition,
  ) {
    this.rpc = createClient(def.service, owner.transport) as unknown as typeof this.rpc;
    this.loader = batchLoader<R>(async (ids) => {
      const reply = (await this.call(`batchGet${def.plural}`, { ids })) as Record<string, R[]>;
      return reply[name] ?? [];
    });
  }

  private call(method: string, request: unknown, signal?: AbortSignal): Promise<unknown> {
    const fn = this.rpc[method];
    if (!fn) throw new Error(`no method ${method}`);
    return fn(request, { timeoutMs: this.owner.timeoutMs, signal }) as Promise<unknown>;
  }

  private read<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(attempt, { read: true, policy: this.owner.retry, timing: this.owner.timing, signal });
  }

  key(id: string): QueryKey {
    return getKey(this.name, id);
  }

  /** Options for a Get query (``useQuery(client.users.getOptions(id))``); null once deleted. */
  getOptions(id: string): { queryKey: QueryKey; queryFn: () => Promise<R | null>; staleTime: number } {
    return {
      queryKey: this.key(id),
      queryFn: () => this.owner.bridge.guard(this.name, id, () => this.read(() => this.loader.load(id))),
      staleTime: this.owner.staleTimeMs,
    };
  }

  get(id: string): Promise<R | null> {
    return this.owner.queryClient.fetchQuery(this.getOptions(id));
  }

  listKey(params: Record<string, unknown> = {}): QueryKey {
    return listKey(this.name, params);
  }

  /** One page, straight from the server under the List guard; its items primed as Gets. */
  async listPage(params: Record<string, unknown>, pageToken = "", signal?: AbortSignal): Promise<Page<R>> {
    const request = { ...params, pageToken };
    const reply = (await this.owner.bridge.guardList(this.name, () =>
      this.read(() => this.call(`list${this.def.plural}`, request, signal), signal),
    )) as Record<string, unknown>;
    const items = (reply[this.name] as R[] | undefined) ?? [];
    for (const item of items) this.owner.queryClient.setQueryData(this.key(item.id), item);
    return { items, nextPageToken: String(reply.nextPageToken ?? "") };
  }

  async create(item: Partial<R>, id = ""): Promise<R> {
    const request = { [this.def.field]: item, [`${this.def.field}Id`]: id, requestId: crypto.randomUUID() };
    const created = (await withRetry(() => this.call(`create${this.def.singular}`, request), {
      read: false,
      policy: this.owner.retry,
      timing: this.owner.timing,
    })) as R;
    this.owner.queryClient.setQueryData(this.key(created.id), created);
    return created;
  }

  /** Update the fields named by ``paths`` of ``item`` (its etag is sent: a stale one is ABORTED). */
  async update(item: Partial<R> & { id: string }, paths: string[]): Promise<R> {
    const request = { [this.def.field]: item, updateMask: create(FieldMaskSchema, { paths }) };
    const updated = (await withRetry(() => this.call(`update${this.def.singular}`, request), {
      read: false,
      policy: this.owner.retry,
      timing: this.owner.timing,
    })) as R;
    this.owner.queryClient.setQueryData(this.key(updated.id), updated);
    return updated;
  }

  /** The update shown at once, rolled back if the server refuses it. */
  async updateOptimistic(item: Partial<R> & { id: string }, paths: string[]): Promise<R> {
    const key = this.key(item.id);
    const before = this.owner.queryClient.getQueryData<R>(key);
    if (before) this.owner.queryClient.setQueryData(key, { ...before, ...item });
    try {
      return await this.update(item, paths);
    } catch (error) {
      this.owner.queryClient.setQueryData(key, before);
      throw toWellspringError(error);
    }
  }

  async delete(id: string, etag = ""): Promise<void> {
    await withRetry(() => this.call(`delete${this.def.singular}`, { id, etag }), {
      read: false,
      policy: this.owner.retry,
      timing: this.owner.timing,
    });
    this.owner.queryClient.setQueryData(this.key(id), null);
  }

  /** Every item matching ``params``, chunk by chunk as the server streams them. */
  async *export(params: Record<string, unknown> = {}, signal?: AbortSignal): AsyncGenerator<R[]> {
    const fn = this.rpc[`export${this.def.plural}`];
    if (!fn) throw new Error("no export");
    try {
      for await (const chunk of fn(params, { signal }) as AsyncIterable<Record<string, R[]>>) {
        yield chunk[this.name] ?? [];
      }
    } catch (error) {
      throw toWellspringError(error);
    }
  }
}

export class WellspringWebClient {
  readonly transport: Transport;
  readonly queryClient: QueryClient;
  readonly bridge: WatchBridge;
  readonly credentials: Credentials | null;
  readonly staleTimeMs: number;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly timing: RetryTiming;
  readonly users: Collection<User>;
  readonly posts: Collection<Post>;
  readonly comments: Collection<Comment>;
  private watching: Promise<void> | null = null;

  constructor(options: WebClientOptions) {
    this.credentials = options.token ? new Credentials(options.token) : null;
    const interceptors = this.credentials ? [this.credentials.interceptor()] : [];
    if (options.tracing ?? true) interceptors.unshift(tracingInterceptor()); // outermost: a retry is one span each
    if (options.transport) this.transport = options.transport;
    else if (options.baseUrl) this.transport = createGrpcWebTransport({ baseUrl: options.baseUrl, interceptors });
    else throw new Error("give a baseUrl (Envoy's grpc-web URL) or a transport");
    this.staleTimeMs = options.staleTimeMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.timing = options.timing ?? realTiming;
    this.queryClient =
      options.queryClient ?? new QueryClient({ defaultOptions: { queries: { staleTime: this.staleTimeMs, retry: false } } });
    const watch = createClient(WatchService, this.transport);
    this.bridge = new WatchBridge(this.queryClient, (startRevision, signal) => watch.watch({ startRevision }, { signal }), {
      timing: this.timing,
    });
    this.users = new Collection<User>(this, "users", DEFINITIONS.users);
    this.posts = new Collection<Post>(this, "posts", DEFINITIONS.posts);
    this.comments = new Collection<Comment>(this, "comments", DEFINITIONS.comments);
  }

  /** Start the Watch stream that keeps the cache coherent (one per client, i.e. per tab). */
  start(): void {
    this.watching ??= this.bridge.run();
  }

  async stop(): Promise<void> {
    this.bridge.stop();
    await this.watching;
    this.watching = null;
  }
}
