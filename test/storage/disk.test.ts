import { createHash } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { OptionError } from "../../lib/errors.js";
import { runStorageContract } from "../../lib/storage/contract.js";
import { DiskStore } from "../../lib/storage/disk.js";
import type { DiskStoreOptions } from "../../lib/storage/disk.js";
import { LOCK_STALE_MS } from "../../lib/storage/file-lock.js";

const root = mkdtempSync(join(tmpdir(), "disk-store-test-"));
let directoryCount = 0;

/** Returns a path under the test root that does not exist yet. */
function newDirectory(): string {
  directoryCount += 1;
  return join(root, `store-${directoryCount}`);
}

function fileNameOf(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("base64url");
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

runStorageContract("DiskStore", () => new DiskStore({ directory: newDirectory() }), { describe, it, expect, beforeEach, afterEach });

describe("DiskStore", () => {
  let clock: number;
  let directory: string;
  let store: DiskStore;

  beforeEach(() => {
    clock = 1_700_000_000_000;
    directory = newDirectory();
    store = new DiskStore({ directory, now: () => clock });
  });

  afterEach(async () => {
    await store.close();
    vi.useRealTimers();
  });

  it("directory is 0700 and files are 0600", async () => {
    const nested = join(newDirectory(), "a", "b");
    const nestedStore = new DiskStore({ directory: nested });
    await nestedStore.set("set", "value");
    await nestedStore.add("add", "value", 60);
    await nestedStore.increment("counter", 60);

    expect(modeOf(nested)).toBe(0o700);
    expect(modeOf(join(nested, ".."))).toBe(0o700);
    const files = readdirSync(nested);
    expect(files).toHaveLength(3);
    for (const file of files) {
      expect(modeOf(join(nested, file))).toBe(0o600);
    }
    await nestedStore.close();
  });

  it("existing directory is restricted to 0700", async () => {
    const existing = newDirectory();
    await new DiskStore({ directory: existing }).close();
    chmodSync(existing, 0o755);

    const reopened = new DiskStore({ directory: existing });

    expect(modeOf(existing)).toBe(0o700);
    await reopened.close();
  });

  it("file names are SHA-256 hashes of the keys", async () => {
    await store.set("session:secret-session-id", { user: "alice" }, 60);

    expect(readdirSync(directory)).toEqual([fileNameOf("session:secret-session-id")]);
    const content = readFileSync(join(directory, fileNameOf("session:secret-session-id")), "utf8");
    expect(content).not.toContain("secret-session-id");
    expect(content).toBe(`expires=${clock + 60_000}\n{"user":"alice"}`);
  });

  it("operations leave no scratch files", async () => {
    await store.set("set", "value", 60);
    await store.set("set", "replaced", 60);
    await store.set("taken", "value", 60);
    await store.take("taken");
    await store.add("add", "value", 60);
    await store.add("add", "ignored", 60);
    await Promise.all(Array.from({ length: 20 }, () => store.increment("counter", 60)));
    await store.set("deleted", "value");
    await store.delete("deleted");

    expect(readdirSync(directory).sort()).toEqual([fileNameOf("set"), fileNameOf("add"), fileNameOf("counter")].sort());
  });

  it("get expires an entry at its TTL", async () => {
    await store.set("k", "value", 10);

    clock += 9_999;
    expect(await store.get("k")).toBe("value");

    clock += 1;
    expect(await store.get("k")).toBeUndefined();
    expect(await store.take("k")).toBeUndefined();
  });

  it("add replaces an expired entry", async () => {
    await store.set("k", "old", 10);

    clock += 10_000;

    expect(await store.add("k", "new", 10)).toBe(true);
    expect(await store.get("k")).toBe("new");
    expect(readdirSync(directory)).toEqual([fileNameOf("k")]);
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
    expect(await store.get("k")).toBe("text");
    expect(readdirSync(directory)).toEqual([fileNameOf("k")]);
  });

  it("unreadable files count as absent", async () => {
    for (const content of ["", "garbage", "expires=never\n{not json", "expires=soon\n1"]) {
      writeFileSync(join(directory, fileNameOf("k")), content);

      expect(await store.get("k")).toBeUndefined();
      expect(await store.take("k")).toBeUndefined();
    }

    writeFileSync(join(directory, fileNameOf("k")), "garbage");
    expect(await store.add("k", "fresh", 60)).toBe(true);
    expect(await store.get("k")).toBe("fresh");
    writeFileSync(join(directory, fileNameOf("counter")), "expires=never\n{truncated");
    expect(await store.increment("counter", 60)).toBe(1);
  });

  it("values survive a new store on the same directory", async () => {
    await store.set("k", { kept: true }, 60);
    await store.increment("counter", 60);
    await store.close();

    store = new DiskStore({ directory, now: () => clock });

    expect(await store.get("k")).toEqual({ kept: true });
    expect(await store.increment("counter", 60)).toBe(2);
  });

  it("writes reject an invalid TTL", async () => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = new RangeError(`Invalid ttlSeconds ${ttl}. Pass a positive number of seconds.`);
      await expect(store.set("k", "value", ttl)).rejects.toThrow(error);
      await expect(store.add("k", "value", ttl)).rejects.toThrow(error);
      await expect(store.increment("counter", ttl)).rejects.toThrow(error);
    }

    expect(readdirSync(directory)).toEqual([]);
  });

  it("set rejects values JSON cannot represent", async () => {
    for (const value of [undefined, () => 1, Symbol("s")]) {
      await expect(store.set("k", value)).rejects.toThrow(TypeError);
      await expect(store.add("k", value, 60)).rejects.toThrow(TypeError);
    }

    expect(readdirSync(directory)).toEqual([]);
  });

  it("increment waits for a lock held elsewhere", async () => {
    const lockPath = join(directory, `${fileNameOf("counter")}.lock`);
    writeFileSync(lockPath, `${Date.now()} ${"a".repeat(32)}`);

    let settled = false;
    const counting = store.increment("counter", 60).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false);

    rmSync(lockPath);

    expect(await counting).toBe(1);
  });

  it("increment removes a stale lock", async () => {
    const lockPath = join(directory, `${fileNameOf("counter")}.lock`);
    writeFileSync(lockPath, `${Date.now() - LOCK_STALE_MS - 1} ${"b".repeat(32)}`);

    const started = Date.now();
    expect(await store.increment("counter", 60)).toBe(1);

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(readdirSync(directory)).toEqual([fileNameOf("counter")]);
  });

  it("sweep deletes expired entries and leftovers", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const swept = new DiskStore({ directory, sweepIntervalSeconds: 30, now: () => clock });
    const hash = fileNameOf("leftover");
    const oldScratch = [`${hash}.${Date.now() - 11 * 60_000}-abc123.tmp`, `${hash}.${Date.now() - 11 * 60_000}-abc123.take`];
    const freshScratch = `${hash}.${Date.now()}-abc123.tmp`;
    const staleLock = `${hash}.lock`;
    for (const name of [...oldScratch, freshScratch, "notes.txt"]) {
      writeFileSync(join(directory, name), "x");
    }
    writeFileSync(join(directory, staleLock), `${Date.now() - LOCK_STALE_MS - 1} ${"c".repeat(32)}`);
    await swept.set("short", "value", 10);
    await swept.set("long", "value", 100);
    await swept.set("forever", "value");

    clock += 11_000;
    expect(readdirSync(directory)).toHaveLength(8);
    vi.advanceTimersByTime(30_000);
    await waitFor(() => readdirSync(directory).length === 4);

    expect(readdirSync(directory).sort()).toEqual([fileNameOf("long"), fileNameOf("forever"), freshScratch, "notes.txt"].sort());
    expect(await swept.get("long")).toBe("value");
    await swept.close();
  });

  it("close stops the sweep", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const closing = new DiskStore({ directory: newDirectory() });
    expect(vi.getTimerCount()).toBe(1);

    await closing.close();

    expect(vi.getTimerCount()).toBe(0);
  });

  it("sweep timer does not keep the process alive", async () => {
    const countTimers = (): number => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length;
    const before = countTimers();

    const idle = new DiskStore({ directory: newDirectory() });

    expect(countTimers()).toBe(before);
    await idle.close();
  });

  it("constructor rejects invalid options", () => {
    const file = join(root, "a-file");
    writeFileSync(file, "x");
    const cases: ReadonlyArray<[Record<string, unknown> | undefined, string]> = [
      [undefined, "Invalid option directory: undefined. Set DiskStore's directory to the path of a directory only this service uses."],
      [{ directory: "" }, "Invalid option directory: \"\". Set DiskStore's directory to the path of a directory only this service uses."],
      [{ directory: 5 }, "Invalid option directory: 5. Set DiskStore's directory to the path of a directory only this service uses."],
      [{ directory: file }, `Invalid option directory: ${JSON.stringify(file)}. The path or one of its parents is a file, not a directory. Choose another path.`],
      [{ directory: join(file, "below") }, `Invalid option directory: ${JSON.stringify(join(file, "below"))}. The path or one of its parents is a file, not a directory. Choose another path.`],
      [{ directory: newDirectory(), sweepIntervalSeconds: 0 }, "Invalid option sweepIntervalSeconds: 0. Set DiskStore's sweepIntervalSeconds to a positive integer, or leave it unset for the default."],
      [{ directory: newDirectory(), sweepIntervalSeconds: 1.5 }, "Invalid option sweepIntervalSeconds: 1.5. Set DiskStore's sweepIntervalSeconds to a positive integer, or leave it unset for the default."],
      [{ directory: newDirectory(), now: 5 }, "Invalid option now: 5. Pass a function that returns the time in milliseconds, or leave now unset."],
    ];

    for (const [options, message] of cases) {
      let thrown: unknown;
      try {
        new DiskStore(options as unknown as DiskStoreOptions);
      } catch (error) {
        thrown = error;
      }

      expect(thrown).toBeInstanceOf(OptionError);
      expect((thrown as OptionError).message).toBe(message);
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`Condition not met within ${timeoutMs} ms.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
