import type { Storage } from "./types.js";

/**
 * A storage failure: the store threw or rejected (a Redis outage, a full disk).
 * The proxy responds with 503 `temporarily_unavailable`, since retrying later
 * is the right move for the client, and the message names only the operation.
 */
export class StorageUnavailableError extends Error {
  constructor(operation: string, cause: unknown) {
    super(`Storage ${operation} failed`, { cause });
    this.name = "StorageUnavailableError";
  }
}

/** Wraps a store so that every failure it raises becomes a `StorageUnavailableError`. */
export class GuardedStore implements Storage {
  readonly #inner: Storage;
  readonly encryptsValues: boolean | undefined;

  constructor(inner: Storage) {
    this.#inner = inner;
    this.encryptsValues = inner.encryptsValues;
  }

  get(key: string): Promise<unknown> {
    return guard("get", () => this.#inner.get(key));
  }

  set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    return guard("set", () => this.#inner.set(key, value, ttlSeconds));
  }

  take(key: string): Promise<unknown> {
    return guard("take", () => this.#inner.take(key));
  }

  add(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    return guard("add", () => this.#inner.add(key, value, ttlSeconds));
  }

  increment(key: string, ttlSeconds: number): Promise<number> {
    return guard("increment", () => this.#inner.increment(key, ttlSeconds));
  }

  delete(key: string): Promise<void> {
    return guard("delete", () => this.#inner.delete(key));
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}

async function guard<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new StorageUnavailableError(operation, error);
  }
}
