import { createContext, useCallback, useContext, useEffect, useState, useSyncExternalStore } from "react";
import type { WellspringWebClient } from "../src/client.js";
import type { Status } from "../src/watch-bridge.js";

export const ClientContext = createContext<WellspringWebClient | null>(null);

export function useClient(): WellspringWebClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error("no WellspringWebClient in context");
  return client;
}

/** The Watch stream's status: live, connecting or offline. An external store read with React's
 * useSyncExternalStore: a change between the first render and the subscription is not missed (the page
 * would say "connecting" for ever). */
export function useStatus(): Status {
  const { bridge } = useClient();
  const subscribe = useCallback((changed: () => void) => bridge.onStatus(changed), [bridge]);
  return useSyncExternalStore(subscribe, () => bridge.status);
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** The hash route: #/, #/users/ID, #/posts/ID. */
export function useRoute(): string[] {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const changed = () => setHash(window.location.hash);
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return hash.replace(/^#\/?/, "").split("/").filter(Boolean);
}
