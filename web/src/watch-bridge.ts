/**
 * One Watch stream per tab for every query on the page, keeping TanStack Query's cache coherent:
 *
 * - each event updates the cached Get of its resource (CREATED/UPDATED: the new value; DELETED: null),
 *   and the Lists of its collection are patched in place when their owner gave a `patch` for them, else
 *   invalidated (refetched if someone shows them);
 * - a revision guard: a Get whose read began before an event for its id was applied is never stored
 *   over it (`guard` answers the value the event left instead), and a List read that began before an
 *   event of its collection is read again;
 * - after a disconnect the stream resumes from the last revision it applied (the log replays what was
 *   missed: no gap); after OUT_OF_RANGE (that revision was compacted) every query is refetched and the
 *   stream starts from now. Before the stream is first live, and after each fresh start, queries read
 *   earlier are invalidated: no event before the start will come for them.
 */
import { Code } from "@connectrpc/connect";
import type { QueryClient, QueryKey } from "@tanstack/query-core";
import { toWellspringError } from "./errors.js";
import { type ChangeEvent, ChangeEvent_Kind, type WatchResponse } from "./gen/wellspring/v1/watch_service_pb.js";
import { type RetryTiming, realTiming } from "./retry.js";

export const ROOT = "wellspring";
export type Status = "connecting" | "live" | "offline";

export function getKey(collection: string, id: string): QueryKey {
  return [ROOT, collection, "get", id];
}

export function listKey(collection: string, params: Record<string, unknown> = {}): QueryKey {
  return [ROOT, collection, "list", params];
}

/** Updates a cached List in place for one event; return undefined to leave it to invalidation. */
export type ListPatch = (data: unknown, event: ChangeEvent, resource: unknown) => unknown | undefined;

export type OpenWatch = (startRevision: bigint, signal: AbortSignal) => AsyncIterable<WatchResponse>;

export class WatchBridge {
  /** The last revision applied (0n: none yet). */
  revision = 0n;
  status: Status = "connecting";
  /** How many times the stream was (re)opened; events applied. */
  connects = 0;
  applied = 0;
  // Events are numbered as applied (``sequence``); a read remembers the number it began at.
  private sequence = 0;
  private readonly touched = new Map<string, number>(); // "collection/id" -> its last event's number
  private readonly collectionTouched = new Map<string, number>();
  private readonly patches = new Map<string, ListPatch>(); // hash of a list key -> its patch
  private readonly listeners = new Set<(status: Status) => void>();
  private abort: AbortController | null = null;

  constructor(
    private readonly queryClient: QueryClient,
    private readonly open: OpenWatch,
    private readonly options: { timing?: RetryTiming; maxBackoffMs?: number } = {},
  ) {}

  /** Follow changes until `stop()`; resolves when stopped. */
  async run(): Promise<void> {
    const abort = (this.abort = new AbortController());
    const timing = this.options.timing ?? realTiming;
    let failures = 0;
    let start = 0n;
    while (!abort.signal.aborted) {
      this.setStatus(failures ? "offline" : "connecting");
      try {
        this.connects++;
        for await (const reply of this.open(start, abort.signal)) {
          if (start === 0n && this.status !== "live") this.freshStart(reply.revision);
          failures = 0;
          this.setStatus("live");
          for (const event of reply.events) this.apply(event);
          if (reply.revision > this.revision) this.revision = reply.revision;
          start = this.revision + 1n;
        }
      } catch (thrown) {
        if (abort.signal.aborted) break;
        const error = toWellspringError(thrown);
        if (error.code === Code.OutOfRange) {
          start = 0n; // compacted past us: everything is refetched when the stream is live again
          this.revision = 0n;
        }
        failures++;
        this.setStatus("offline");
        const cap = Math.min(this.options.maxBackoffMs ?? 5000, 100 * 2 ** Math.min(failures, 10));
        try {
          await timing.sleep(Math.max(timing.random() * cap, error.retryAfterMs ?? 0), abort.signal);
        } catch {
          break;
        }
      }
    }
  }

  stop(): void {
    this.abort?.abort();
  }

  onStatus(listener: (status: Status) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Register how a cached List (by its key) takes an event in place. */
  patchList(key: QueryKey, patch: ListPatch): void {
    this.patches.set(JSON.stringify(key), patch);
  }

  /** Run a Get's read under the revision guard: if an event for `id` was applied after it began, the
   * value that event left is answered instead of the read's (older) one. */
  async guard<T>(collection: string, id: string, read: () => Promise<T>): Promise<T | null> {
    const began = this.begin();
    try {
      const value = await read();
      const after = this.touched.get(`${collection}/${id}`);
      if (after !== undefined && after > began) {
        return (this.queryClient.getQueryData(getKey(collection, id)) as T | null | undefined) ?? null;
      }
      return value;
    } finally {
      this.end();
    }
  }

  /** Run a List's read; read it again if an event of its collection was applied meanwhile. */
  async guardList<T>(collection: string, read: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const began = this.begin();
      try {
        const value = await read();
        const after = this.collectionTouched.get(collection);
        if (attempt >= 3 || after === undefined || after <= began) return value;
      } finally {
        this.end();
      }
    }
  }

  // Only events applied while a read is in flight are remembered: the maps are empty between reads.
  private inFlight = 0;

  private begin(): number {
    this.inFlight++;
    return this.sequence;
  }

  private end(): void {
    if (--this.inFlight === 0) {
      this.touched.clear();
      this.collectionTouched.clear();
    }
  }

  private apply(event: ChangeEvent): void {
    this.applied++;
    const sequence = ++this.sequence;
    const collection = event.collection;
    if (this.inFlight) {
      this.touched.set(`${collection}/${event.id}`, sequence);
      this.collectionTouched.set(collection, sequence);
    }
    const resource = event.kind === ChangeEvent_Kind.DELETED ? null : (event.resource.value ?? null);
    const key = getKey(collection, event.id);
    if (this.queryClient.getQueryState(key) !== undefined) this.queryClient.setQueryData(key, resource);
    for (const query of this.queryClient.getQueryCache().findAll({ queryKey: [ROOT, collection, "list"] })) {
      const patch = this.patches.get(JSON.stringify(query.queryKey));
      const patched = patch && query.state.data !== undefined ? patch(query.state.data, event, resource) : undefined;
      if (patched !== undefined) this.queryClient.setQueryData(query.queryKey, patched);
      else void this.queryClient.invalidateQueries({ queryKey: query.queryKey, exact: true });
    }
  }

  private freshStart(revision: bigint): void {
    this.revision = revision;
    for (const query of this.queryClient.getQueryCache().findAll({ queryKey: [ROOT] })) {
      if (query.state.dataUpdatedAt > 0) void this.queryClient.invalidateQueries({ queryKey: query.queryKey, exact: true });
    }
  }

  private setStatus(status: Status): void {
    if (status === this.status) return;
    this.status = status;
    for (const listener of this.listeners) listener(status);
  }
}
