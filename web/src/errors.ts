/**
 * Errors decoded from the status details the server sends (`grpc-status-details-bin`, exposed by Envoy's
 * CORS policy): a `WellspringError` carries the gRPC code, the ErrorInfo reason and metadata, the field
 * violations of a BadRequest, the resource names of ResourceInfo, and the RetryInfo delay. Connect decodes
 * the header into `ConnectError.details`; this reads them once, typed.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";

export interface FieldViolation {
  field: string;
  description: string;
}

export class WellspringError extends Error {
  override readonly name = "WellspringError";
  readonly code: Code;
  /** ErrorInfo.reason: NOT_OWNER, RATE_LIMITED, RESPONSE_TOO_LARGE, ... ("" when none). */
  readonly reason: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly fieldViolations: readonly FieldViolation[];
  /** ResourceInfo.resource_name of each resource the error names (the missing ids of a NOT_FOUND). */
  readonly resourceNames: readonly string[];
  /** PreconditionFailure descriptions (an etag mismatch says the current etag). */
  readonly preconditions: readonly string[];
  /** RetryInfo.retry_delay in milliseconds, or null when the server sent none. */
  readonly retryAfterMs: number | null;
  override readonly cause: ConnectError;

  constructor(error: ConnectError) {
    super(error.rawMessage);
    this.cause = error;
    this.code = error.code;
    const [info] = error.findDetails(ErrorInfoSchema);
    this.reason = info?.reason ?? "";
    this.metadata = { ...(info?.metadata ?? {}) };
    this.fieldViolations = error
      .findDetails(BadRequestSchema)
      .flatMap((b) => b.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
    this.resourceNames = error.findDetails(ResourceInfoSchema).map((r) => r.resourceName);
    this.preconditions = error
      .findDetails(PreconditionFailureSchema)
      .flatMap((p) => p.violations.map((v) => v.description));
    const [retry] = error.findDetails(RetryInfoSchema);
    const delay = retry?.retryDelay;
    this.retryAfterMs = delay ? Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6) : null;
  }

  /** The violation of one field (``user.email``), if the server named it. */
  violation(field: string): string | undefined {
    return this.fieldViolations.find((v) => v.field === field)?.description;
  }

  get isConflict(): boolean {
    return this.code === Code.Aborted;
  }

  get isNotFound(): boolean {
    return this.code === Code.NotFound;
  }

  get isUnavailable(): boolean {
    return this.code === Code.Unavailable;
  }
}

/** Any thrown value as a `WellspringError` (a network failure becomes UNAVAILABLE, as connect says). */
export function toWellspringError(error: unknown): WellspringError {
  return error instanceof WellspringError ? error : new WellspringError(ConnectError.from(error));
}
