/**
 * Concurrent gets of one collection coalesced into one BatchGet, with the npm `dataloader` package (its
 * per-tick batching, no cache of its own: the query cache is TanStack's). A BatchGet fails whole when
 * an id is missing (NOT_FOUND naming the missing ids); then the others are asked again and only the
 * missing ones fail, each with its own NOT_FOUND.
 */
import DataLoader from "dataloader";
import { type WellspringError, toWellspringError } from "./errors.js";

export interface Identified {
  id: string;
}

export const MAX_BATCH = 100;

export function batchLoader<R extends Identified>(
  batchGet: (ids: string[]) => Promise<R[]>,
  maxBatchSize = MAX_BATCH,
): DataLoader<string, R> {
  async function load(keys: readonly string[]): Promise<(R | Error)[]> {
    const unique = [...new Set(keys)];
    let found: Map<string, R>;
    let missing: Map<string, WellspringError> = new Map();
    try {
      found = byId(await batchGet(unique));
    } catch (thrown) {
      const error = toWellspringError(thrown);
      if (!error.isNotFound || error.resourceNames.length === 0) return keys.map(() => error);
      missing = new Map(error.resourceNames.map((id) => [id, error]));
      const rest = unique.filter((id) => !missing.has(id));
      try {
        found = byId(rest.length ? await batchGet(rest) : []);
      } catch (again) {
        const second = toWellspringError(again);
        return keys.map((id) => missing.get(id) ?? second);
      }
    }
    return keys.map((id) => found.get(id) ?? missing.get(id) ?? new Error(`no ${id} in the BatchGet answer`));
  }
  return new DataLoader(load, { cache: false, maxBatchSize });
}

function byId<R extends Identified>(items: R[]): Map<string, R> {
  return new Map(items.map((item) => [item.id, item]));
}
