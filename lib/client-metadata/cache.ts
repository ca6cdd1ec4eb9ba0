import type { ClientRecord } from "../records.js";

/** Seconds a document without caching headers is kept. */
const DEFAULT_CACHE_SECONDS = 300;

/** Documents kept per process. When full, the oldest is dropped first. */
const MAX_ENTRIES = 1000;

/**
 * Returns how long a document may be cached, in seconds, from its
 * `Cache-Control` header: `no-store` and `no-cache` mean 0, `max-age` is used
 * when present, otherwise five minutes, and never more than `maxSeconds`.
 *
 * @example
 * cacheLifetime("public, max-age=60", 86400); // 60
 * cacheLifetime(undefined, 86400); // 300
 */
export function cacheLifetime(cacheControl: string | undefined, maxSeconds: number): number {
  const directives = (cacheControl ?? "").toLowerCase().split(",").map((directive) => directive.trim());
  if (directives.includes("no-store") || directives.includes("no-cache")) {
    return 0;
  }

  const maxAge = directives.map((directive) => /^max-age="?(\d+)"?$/.exec(directive)?.[1]).find((value) => value !== undefined);
  const seconds = maxAge === undefined ? DEFAULT_CACHE_SECONDS : Number(maxAge);
  return Math.min(seconds, maxSeconds);
}

/**
 * Validated documents by client id, each kept until its lifetime ends.
 * Failures are never stored, so the next request fetches again (Client ID
 * Metadata Document draft, "Metadata Discovery Errors").
 */
// NOTE: the cache lives in each process, so every instance behind a load
// balancer fetches a document once per lifetime on its own.
export class DocumentCache {
  readonly #entries = new Map<string, { client: ClientRecord; expiresAt: number }>();

  get(clientId: string): ClientRecord | undefined {
    const entry = this.#entries.get(clientId);
    if (entry === undefined) {
      return undefined;
    }
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(clientId);
      return undefined;
    }
    return entry.client;
  }

  set(clientId: string, client: ClientRecord, seconds: number): void {
    if (seconds <= 0) {
      return;
    }

    this.#entries.delete(clientId);
    if (this.#entries.size >= MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) {
        this.#entries.delete(oldest);
      }
    }
    this.#entries.set(clientId, { client, expiresAt: Date.now() + seconds * 1000 });
  }
}
