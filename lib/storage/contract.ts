import { randomUUID } from "node:crypto";

import type { Storage } from "./types.js";

/** Assertions the contract suite uses, a subset of what vitest's and Jest's `expect` return. */
export interface ContractAssertion {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeUndefined(): void;
  toHaveLength(length: number): void;
}

/** Test functions of the caller's runner, passed in so this module does not depend on one. */
export interface ContractTestApi {
  describe: (name: string, body: () => void) => void;
  it: (name: string, body: () => Promise<void>, timeout?: number) => void;
  expect: (actual: unknown) => ContractAssertion;
  beforeEach: (hook: () => Promise<void>) => void;
  afterEach: (hook: () => Promise<void>) => void;
}

const CONCURRENCY = 50;

/**
 * Registers tests that check a {@link Storage} adapter against the guarantees the proxy relies on.
 *
 * `makeStore` runs before each test and the store is closed after it. Every test writes under a
 * random key prefix, so the suite can run against a shared networked store. Two tests wait
 * for TTLs to expire, about 1.2 and 0.5 seconds, and one writes a 1 MiB value.
 *
 * @example
 * import { describe, it, expect, beforeEach, afterEach } from "vitest";
 * runStorageContract("RedisStore", () => new RedisStore(client), { describe, it, expect, beforeEach, afterEach });
 */
export function runStorageContract(name: string, makeStore: () => Promise<Storage> | Storage, testApi: ContractTestApi): void {
  const { describe, it, expect, beforeEach, afterEach } = testApi;
  let store: Storage;
  let prefix: string;
  const key = (suffix: string): string => `${prefix}${suffix}`;

  describe(name, () => {
    beforeEach(async () => {
      store = await makeStore();
      prefix = `contract:${randomUUID()}:`;
    });

    afterEach(async () => {
      await store.close?.();
    });

    it("get returns undefined for an absent key", async () => {
      expect(await store.get(key("absent"))).toBeUndefined();
    });

    it("set then get round-trips JSON values", async () => {
      const values: ReadonlyArray<unknown> = [
        { client_id: "abc", scopes: ["read", "write"], nested: { count: 2, active: true } },
        "plain string",
        "",
        42,
        0,
        -1.5,
        true,
        false,
        [[1, 2], ["a", ["b"]], []],
      ];

      for (const [index, value] of values.entries()) {
        await store.set(key(`value-${index}`), value);
        expect(await store.get(key(`value-${index}`))).toEqual(value);
      }
    });

    it("set replaces an existing value", async () => {
      await store.set(key("k"), { version: 1 });
      await store.set(key("k"), { version: 2 });

      expect(await store.get(key("k"))).toEqual({ version: 2 });
    });

    it("entries expire after their TTL", async () => {
      await store.set(key("set"), "short-lived", 1);
      await store.add(key("add"), "short-lived", 1);
      await store.set(key("ttl-removed"), "first", 1);
      await store.set(key("ttl-removed"), "second");
      await store.set(key("no-ttl"), "kept");
      expect(await store.increment(key("counter"), 1)).toBe(1);

      await sleep(600);
      expect(await store.get(key("set"))).toBe("short-lived");
      expect(await store.increment(key("counter"), 1)).toBe(2);

      await sleep(600);
      expect(await store.get(key("set"))).toBeUndefined();
      expect(await store.take(key("add"))).toBeUndefined();
      expect(await store.get(key("ttl-removed"))).toBe("second");
      expect(await store.get(key("no-ttl"))).toBe("kept");
      // The second increment must not have extended the TTL set by the first.
      expect(await store.increment(key("counter"), 1)).toBe(1);
      expect(await store.add(key("add"), "again", 60)).toBe(true);
    }, 10_000);

    it("null is stored, unlike an absent key", async () => {
      await store.set(key("null"), null, 60);

      expect(await store.get(key("null"))).toBe(null);
      expect(await store.add(key("null"), "other", 60)).toBe(false);
      expect(await store.take(key("null"))).toBe(null);
      expect(await store.get(key("null"))).toBeUndefined();
    });

    it("sub-second TTLs expire on time", async () => {
      await store.set(key("set"), "short-lived", 0.25);
      expect(await store.add(key("add"), "short-lived", 0.25)).toBe(true);
      expect(await store.increment(key("counter"), 0.25)).toBe(1);
      await store.set(key("long"), "kept", 60);

      expect(await store.get(key("set"))).toBe("short-lived");
      await sleep(450);

      expect(await store.get(key("set"))).toBeUndefined();
      expect(await store.get(key("add"))).toBeUndefined();
      expect(await store.increment(key("counter"), 0.25)).toBe(1);
      expect(await store.get(key("long"))).toBe("kept");
    }, 10_000);

    it("large values round-trip", async () => {
      const text = "x".repeat(1024 * 1024);
      const records = Array.from({ length: 5_000 }, (_, index) => ({ id: `record-${index}`, scopes: ["read", "write"], count: index }));

      await store.set(key("text"), text, 60);
      await store.set(key("records"), records, 60);

      expect(await store.get(key("text"))).toBe(text);
      expect(await store.take(key("records"))).toEqual(records);
    }, 10_000);

    it("Unicode text round-trips", async () => {
      const value = { text: "ümlaut 漢字 🚀 \u2028 \u0000 \" \\ \n\t", [`key "quoted" 🔑`]: "\r\n" };

      await store.set(key("unicode"), value, 60);

      expect(await store.get(key("unicode"))).toEqual(value);
    });

    it("keys with unusual characters stay distinct", async () => {
      const suffixes = [
        "",
        " ",
        "key",
        "KEY",
        "key ",
        "a/b",
        "../../outside",
        "back\\slash",
        "line\nbreak",
        "nul\u0000byte",
        "glob*?[a-z]{x}",
        "ümlaut 漢字 🚀",
        "x".repeat(2_000),
      ];

      for (const [index, suffix] of suffixes.entries()) {
        await store.set(key(suffix), index, 60);
      }

      for (const [index, suffix] of suffixes.entries()) {
        expect(await store.get(key(suffix))).toBe(index);
      }

      for (const [index, suffix] of suffixes.entries()) {
        expect(await store.take(key(suffix))).toBe(index);
        expect(await store.get(key(suffix))).toBeUndefined();
      }
    });

    it("stored values are copies", async () => {
      const value = { scopes: ["read"] };
      await store.set(key("k"), value, 60);

      value.scopes.push("write");
      const first = (await store.get(key("k"))) as { scopes: string[] };
      first.scopes.push("admin");

      expect(await store.get(key("k"))).toEqual({ scopes: ["read"] });
    });

    it("take returns the value then removes it", async () => {
      await store.set(key("k"), { code: "once" }, 60);

      expect(await store.take(key("k"))).toEqual({ code: "once" });
      expect(await store.get(key("k"))).toBeUndefined();
      expect(await store.take(key("k"))).toBeUndefined();
    });

    it("take returns undefined for an absent key", async () => {
      expect(await store.take(key("absent"))).toBeUndefined();
    });

    it("concurrent take yields the value once", async () => {
      await store.set(key("k"), "single-use", 60);

      const results = await Promise.all(Array.from({ length: CONCURRENCY }, () => store.take(key("k"))));

      expect(results.filter((result) => result !== undefined)).toEqual(["single-use"]);
    });

    it("add stores when the key is absent", async () => {
      expect(await store.add(key("k"), { first: true }, 60)).toBe(true);
      expect(await store.get(key("k"))).toEqual({ first: true });
    });

    it("add keeps an existing value", async () => {
      await store.set(key("k"), "existing", 60);

      expect(await store.add(key("k"), "newer", 60)).toBe(false);
      expect(await store.get(key("k"))).toBe("existing");
    });

    it("concurrent add stores exactly once", async () => {
      const results = await Promise.all(Array.from({ length: CONCURRENCY }, (_, index) => store.add(key("k"), index, 60)));

      const winners = results.flatMap((stored, index) => (stored ? [index] : []));
      expect(winners).toHaveLength(1);
      expect(await store.get(key("k"))).toBe(winners[0]);
    });

    it("increment counts from one", async () => {
      expect(await store.increment(key("counter"), 60)).toBe(1);
      expect(await store.increment(key("counter"), 60)).toBe(2);
      expect(await store.increment(key("counter"), 60)).toBe(3);
    });

    it("concurrent increments return distinct counts", async () => {
      const counts = await Promise.all(Array.from({ length: CONCURRENCY }, () => store.increment(key("counter"), 60)));

      const expected = Array.from({ length: CONCURRENCY }, (_, index) => index + 1);
      expect([...counts].sort((a, b) => a - b)).toEqual(expected);
      expect(await store.increment(key("counter"), 60)).toBe(CONCURRENCY + 1);
    });

    it("delete removes the key", async () => {
      await store.set(key("k"), "value", 60);

      await store.delete(key("k"));

      expect(await store.get(key("k"))).toBeUndefined();
      expect(await store.add(key("k"), "again", 60)).toBe(true);
    });

    it("delete of an absent key resolves", async () => {
      expect(await store.delete(key("absent"))).toBeUndefined();
    });
  });
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
