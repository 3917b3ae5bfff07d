/**
 * Reads retried on UNAVAILABLE (the server, or Envoy, unreachable) with exponential backoff and full
 * jitter, and any call refused RATE_LIMITED (it never ran), both honouring the server's RetryInfo delay;
 * everything else is thrown at once, as a `WellspringError`.
 */
import { Code } from "@connectrpc/connect";
import { type WellspringError, toWellspringError } from "./errors.js";

export interface RetryPolicy {
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, initialBackoffMs: 50, maxBackoffMs: 2000, multiplier: 2 };

export interface RetryTiming {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
}

export const realTiming: RetryTiming = {
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    }),
  random: Math.random,
};

function retryable(error: WellspringError, read: boolean): boolean {
  if (error.code === Code.ResourceExhausted) return error.reason === "RATE_LIMITED";
  return read && error.code === Code.Unavailable;
}

/** `attempt()` until it succeeds or may not be retried; `read` says whether UNAVAILABLE may be. */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  { read, policy = DEFAULT_RETRY, timing = realTiming, signal }: {
    read: boolean;
    policy?: RetryPolicy;
    timing?: RetryTiming;
    signal?: AbortSignal;
  },
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (thrown) {
      const error = toWellspringError(thrown);
      if (n + 1 >= policy.attempts || signal?.aborted || !retryable(error, read)) throw error;
      const cap = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** n);
      const backoff = timing.random() * cap;
      await timing.sleep(Math.max(backoff, error.retryAfterMs ?? 0), signal);
    }
  }
}
