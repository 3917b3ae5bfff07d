/**
 * The `authorization` header of every call: a fixed token, or a provider asked again shortly before its
 * token expires (its JWT `exp`, read without verifying) and after a call is refused UNAUTHENTICATED.
 * One client, one identity: its cache holds what that principal may read.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

export type TokenProvider = () => string | Promise<string>;
export type TokenSource = string | TokenProvider;

export const REFRESH_BEFORE_MS = 60_000;

export function jwtExpiryMs(token: string): number | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export class Credentials {
  private token: string | null = null;
  private expiresAt: number | null = null;
  private renewing: Promise<void> | null = null;
  renewals = 0;

  constructor(
    private readonly source: TokenSource,
    private readonly now: () => number = Date.now,
  ) {
    if (typeof source === "string") this.take(source);
  }

  private take(token: string): void {
    this.token = token;
    this.expiresAt = jwtExpiryMs(token);
  }

  private renew(): Promise<void> {
    if (typeof this.source === "string") return Promise.resolve();
    const provider = this.source;
    this.renewing ??= (async () => {
      try {
        this.take(await provider());
        this.renewals++;
      } finally {
        this.renewing = null;
      }
    })();
    return this.renewing;
  }

  async header(): Promise<string> {
    const due = this.expiresAt !== null && this.now() >= this.expiresAt - REFRESH_BEFORE_MS;
    if (this.token === null || (due && typeof this.source !== "string")) await this.renew();
    return `Bearer ${this.token}`;
  }

  /** A call sent with `sent` was refused UNAUTHENTICATED: true when a new token is there to try. */
  async refused(sent: string): Promise<boolean> {
    if (typeof this.source === "string") return false;
    if (`Bearer ${this.token}` === sent) await this.renew();
    return `Bearer ${this.token}` !== sent;
  }

  /** The connect interceptor: the header on every call, one retry of a unary call after a refusal. */
  interceptor(): Interceptor {
    return (next) => async (request) => {
      const sent = await this.header();
      request.header.set("authorization", sent);
      try {
        return await next(request);
      } catch (thrown) {
        const error = ConnectError.from(thrown);
        if (error.code !== Code.Unauthenticated || request.stream || !(await this.refused(sent))) throw thrown;
        request.header.set("authorization", await this.header());
        return await next(request);
      }
    };
  }
}
