import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { OptionError } from "../../lib/errors.js";
import { runStorageContract } from "../../lib/storage/contract.js";
import { MemoryStore } from "../../lib/storage/memory.js";
import type { MemoryStoreOptions } from "../../lib/storage/memory.js";

runStorageContract("MemoryStore", () => new MemoryStore(), { describe, it, expect, beforeEach, afterEach });

describe("MemoryStore", () => {
  let clock: number;
  let store: MemoryStore;

  beforeEach(() => {
    clock = 1_700_000_000_000;
    store = new MemoryStore({ now: () => clock });
  });

  afterEach(async () => {
    await store.close();
    vi.useRealTimers();
  });

  it("get expires an entry at its TTL", async () => {
    await store.set("k", "value", 10);

    clock += 9_999;
    expect(await store.get("k")).toBe("value");

    clock += 1;
    expect(await store.get("k")).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it("take and add treat an expired entry as absent", async () => {
    await store.set("take", "value", 10);
    await store.set("add", "old", 10);

    clock += 10_000;

    expect(await store.take("take")).toBeUndefined();
    expect(await store.add("add", "new", 10)).toBe(true);
    expect(await store.get("add")).toBe("new");
  });

  it("increment keeps the first TTL", async () => {
    expect(await store.increment("counter", 10)).toBe(1);

    clock += 9_000;
    expect(await store.increment("counter", 10)).toBe(2);

    clock += 1_000;
    expect(await store.increment("counter", 10)).toBe(1);
  });

  it("increment rejects a non-counter value", async () => {
    await store.set("k", "text");

    await expect(store.increment("k", 10)).rejects.toThrow(new TypeError('Cannot increment "k" because its value is not a counter. Use a separate key for counters.'));
  });

  it("stored values are copies", async () => {
    const value = { scopes: ["read"] };
    await store.set("k", value);

    value.scopes.push("write");
    const first = (await store.get("k")) as { scopes: string[] };
    first.scopes.push("admin");

    expect(await store.get("k")).toEqual({ scopes: ["read"] });
  });

  it("set rejects values JSON cannot represent", async () => {
    for (const value of [undefined, () => 1, Symbol("s")]) {
      await expect(store.set("k", value)).rejects.toThrow(TypeError);
    }

    expect(await store.get("k")).toBeUndefined();
  });

  it("writes reject an invalid TTL", async () => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = new RangeError(`Invalid ttlSeconds ${ttl}. Pass a positive number of seconds.`);
      await expect(store.set("k", "value", ttl)).rejects.toThrow(error);
      await expect(store.add("k", "value", ttl)).rejects.toThrow(error);
      await expect(store.increment("counter", ttl)).rejects.toThrow(error);
    }

    expect(store.size).toBe(0);
  });

  it("eviction drops the least recently used entry", async () => {
    const small = new MemoryStore({ maxEntries: 3 });
    await small.set("a", 1);
    await small.set("b", 2);
    await small.set("c", 3);

    expect(await small.get("a")).toBe(1);
    await small.set("d", 4);

    expect(small.size).toBe(3);
    expect(await small.get("b")).toBeUndefined();
    expect(await small.get("a")).toBe(1);
    expect(await small.get("c")).toBe(3);
    expect(await small.get("d")).toBe(4);
    await small.close();
  });

  it("eviction counts a rewrite as use", async () => {
    const small = new MemoryStore({ maxEntries: 2 });
    await small.set("a", 1);
    await small.set("b", 2);
    await small.set("a", 10);
    await small.increment("counter", 60);

    expect(await small.get("b")).toBeUndefined();
    expect(await small.get("a")).toBe(10);
    expect(await small.get("counter")).toBe(1);
    await small.close();
  });

  it("sweep deletes expired entries on its interval", async () => {
    vi.useFakeTimers();
    const swept = new MemoryStore({ sweepIntervalSeconds: 30, now: () => clock });
    await swept.set("short", "value", 10);
    await swept.set("long", "value", 100);
    await swept.set("forever", "value");

    clock += 11_000;
    expect(swept.size).toBe(3);

    vi.advanceTimersByTime(30_000);
    expect(swept.size).toBe(2);
    expect(await swept.get("long")).toBe("value");
    expect(await swept.get("forever")).toBe("value");
    await swept.close();
  });

  it("close stops the sweep and drops entries", async () => {
    vi.useFakeTimers();
    const closing = new MemoryStore();
    await closing.set("k", "value");
    expect(vi.getTimerCount()).toBe(1);

    await closing.close();

    expect(vi.getTimerCount()).toBe(0);
    expect(closing.size).toBe(0);
  });

  it("sweep timer does not keep the process alive", async () => {
    const countTimers = (): number => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length;
    const before = countTimers();

    const idle = new MemoryStore();

    expect(countTimers()).toBe(before);
    await idle.close();
  });

  it("constructor rejects invalid options", () => {
    const cases: ReadonlyArray<[Record<string, unknown>, string]> = [
      [{ maxEntries: 0 }, "Invalid option maxEntries: 0. Set MemoryStore's maxEntries to a positive integer, or leave it unset for the default."],
      [{ maxEntries: -5 }, "Invalid option maxEntries: -5. Set MemoryStore's maxEntries to a positive integer, or leave it unset for the default."],
      [{ maxEntries: 1.5 }, "Invalid option maxEntries: 1.5. Set MemoryStore's maxEntries to a positive integer, or leave it unset for the default."],
      [{ maxEntries: "100" }, "Invalid option maxEntries: \"100\". Set MemoryStore's maxEntries to a positive integer, or leave it unset for the default."],
      [{ maxEntries: Number.POSITIVE_INFINITY }, "Invalid option maxEntries: Infinity. Set MemoryStore's maxEntries to a positive integer, or leave it unset for the default."],
      [{ sweepIntervalSeconds: 0 }, "Invalid option sweepIntervalSeconds: 0. Set MemoryStore's sweepIntervalSeconds to a positive integer, or leave it unset for the default."],
      [{ sweepIntervalSeconds: Number.NaN }, "Invalid option sweepIntervalSeconds: NaN. Set MemoryStore's sweepIntervalSeconds to a positive integer, or leave it unset for the default."],
      [{ sweepIntervalSeconds: null }, "Invalid option sweepIntervalSeconds: null. Set MemoryStore's sweepIntervalSeconds to a positive integer, or leave it unset for the default."],
      [{ now: 5 }, "Invalid option now: 5. Pass a function that returns the time in milliseconds, or leave now unset."],
    ];

    for (const [options, message] of cases) {
      let thrown: unknown;
      try {
        new MemoryStore(options as MemoryStoreOptions);
      } catch (error) {
        thrown = error;
      }

      expect(thrown).toBeInstanceOf(OptionError);
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as OptionError).code).toBe("ERR_MCP_OAUTH_PROXY_OPTION");
      expect((thrown as OptionError).message).toBe(message);
    }
  });
});
