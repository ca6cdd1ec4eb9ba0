/**
 * Key-value storage behind every piece of state the proxy keeps.
 *
 * Values are JSON-serializable. Every method is atomic for a single key, so one
 * shared store (Redis, for example) serves any number of proxy instances.
 */
export interface Storage {
  /** Returns the value stored under `key`, or `undefined` when absent or expired. */
  get(key: string): Promise<unknown | undefined>;

  /** Stores `value` under `key`, replacing any previous value; `ttlSeconds` omitted means no expiry. */
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>;

  /** Atomically reads and deletes `key`: of two concurrent calls, at most one gets the value. */
  take(key: string): Promise<unknown | undefined>;

  /** Stores `value` only if `key` is absent; returns whether it was stored. */
  add(key: string, value: unknown, ttlSeconds: number): Promise<boolean>;

  /** Atomically adds one to the counter under `key` and returns the new count; the TTL starts with the first increment. */
  increment(key: string, ttlSeconds: number): Promise<number>;

  /** Deletes `key`; deleting an absent key is not an error. */
  delete(key: string): Promise<void>;

  /** Releases timers and connections the store opened itself. */
  close?(): Promise<void>;

  /** True when the store encrypts values itself, so the proxy does not wrap it in encryption again. */
  readonly encryptsValues?: boolean;
}
