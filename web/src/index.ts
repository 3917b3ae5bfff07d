export { batchLoader, MAX_BATCH } from "./batcher.js";
export { Collection, type CollectionName, type Page, WellspringWebClient, type WebClientOptions } from "./client.js";
export { type FieldViolation, WellspringError, toWellspringError } from "./errors.js";
export { DEFAULT_RETRY, type RetryPolicy, type RetryTiming, withRetry } from "./retry.js";
export { Credentials, type TokenProvider, type TokenSource, jwtExpiryMs } from "./tokens.js";
export { tracingInterceptor } from "./tracing.js";
export { type ListPatch, type Status, WatchBridge, getKey, listKey } from "./watch-bridge.js";
export * from "./gen/wellspring/v1/resources_pb.js";
