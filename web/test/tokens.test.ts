import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Credentials, jwtExpiryMs } from "../src/tokens.js";

function jwt(exp: number, sub = "ada"): string {
  const body = btoa(JSON.stringify({ sub, exp })).replace(/=+$/, "");
  return `eyJhbGciOiJIUzI1NiJ9.${body}.c2ln`;
}

describe("tokens", () => {
  it("read a JWT's expiry and nothing else", () => {
    expect(jwtExpiryMs(jwt(1234))).toBe(1_234_000);
    expect(jwtExpiryMs("opaque")).toBeNull();
  });

  it("renew a provider's token before it expires", async () => {
    let now = 1_000_000;
    let issued = 0;
    const credentials = new Credentials(() => jwt(now / 1000 + 120, `t${++issued}`), () => now);
    const first = await credentials.header();
    expect(await credentials.header()).toBe(first);
    now += 61_000; // within 60 s of expiry
    expect(await credentials.header()).not.toBe(first);
    expect(issued).toBe(2);
  });

  it("send the header, and a unary call again once after UNAUTHENTICATED with a renewed token", async () => {
    const seen: string[] = [];
    const tokens = ["stale", "fresh", "fresher"];
    const credentials = new Credentials(() => tokens.shift() ?? "none");
    const call = credentials.interceptor()(async (request) => {
      const header = request.header.get("authorization") ?? "";
      seen.push(header);
      if (header.endsWith("stale")) throw new ConnectError("expired", Code.Unauthenticated);
      return { stream: false } as never;
    });
    await call({ stream: false, header: new Headers() } as never);
    expect(seen).toEqual(["Bearer stale", "Bearer fresh"]);
    expect(credentials.renewals).toBe(2);
  });

  it("a fixed token is never renewed: the refusal is the answer", async () => {
    const credentials = new Credentials("fixed");
    const call = credentials.interceptor()(async () => {
      throw new ConnectError("expired", Code.Unauthenticated);
    });
    await expect(call({ stream: false, header: new Headers() } as never)).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
  });
});
