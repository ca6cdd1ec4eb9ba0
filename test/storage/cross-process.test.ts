import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Interface } from "node:readline";
import { fileURLToPath } from "node:url";

import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { DiskStore } from "../../lib/storage/disk.js";
import { RedisStore } from "../../lib/storage/redis.js";
import type { Storage } from "../../lib/storage/types.js";
import { connectLocalRedis, deleteKeys } from "./local-redis.js";
import type { BurstCommand, BurstReply } from "./store-worker.js";

const WORKER = fileURLToPath(new URL("./store-worker.ts", import.meta.url));
const CALLS_PER_PROCESS = 50;
const ROUNDS = 20;
// Both workers wait until this long after the command is sent, then start their bursts together.
const START_DELAY_MS = 150;

/** A store worker in a child process, driven one burst at a time over stdin and stdout. */
class Worker {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: Interface;
  readonly #pending: Array<(line: string) => void> = [];
  readonly #exited: Promise<void>;
  #stderr = "";

  constructor(kind: "disk" | "redis", location: string) {
    this.#child = spawn(process.execPath, ["--import", "tsx", WORKER, kind, location], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stderr.on("data", (chunk: Buffer) => {
      this.#stderr += chunk.toString("utf8");
    });
    this.#lines = createInterface({ input: this.#child.stdout });
    this.#lines.on("line", (line) => this.#pending.shift()?.(line));
    this.#exited = new Promise((resolve) => this.#child.once("exit", () => resolve()));
  }

  /** Resolves once the worker has opened its store. */
  async ready(): Promise<void> {
    const line = await this.#nextLine();
    expect(JSON.parse(line)).toEqual({ ready: true });
  }

  async burst(command: BurstCommand): Promise<BurstReply> {
    const reply = this.#nextLine();
    this.#child.stdin.write(`${JSON.stringify(command)}\n`);
    return JSON.parse(await reply) as BurstReply;
  }

  async stop(): Promise<void> {
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5_000);
    await this.#exited;
    clearTimeout(timer);
  }

  #nextLine(): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`The worker sent nothing within 15 s. Its stderr: ${this.#stderr}`)), 15_000);
      this.#pending.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
      void this.#exited.then(() => reject(new Error(`The worker exited with code ${this.#child.exitCode}. Its stderr: ${this.#stderr}`)));
    });
  }
}

interface Round {
  replies: BurstReply[];
  overlapped: boolean;
}

/** Sends the same burst to every worker, timed to start at one moment, and returns their replies. */
async function runRound(workers: ReadonlyArray<Worker>, operation: BurstCommand["operation"], key: string): Promise<Round> {
  const command: BurstCommand = { operation, key, count: CALLS_PER_PROCESS, startAt: Date.now() + START_DELAY_MS };
  const replies = await Promise.all(workers.map((worker) => worker.burst(command)));
  const lastStart = Math.max(...replies.map((reply) => reply.startedAt));
  const firstEnd = Math.min(...replies.map((reply) => reply.endedAt));
  return { replies, overlapped: lastStart <= firstEnd };
}

/** Registers the cross-process tests for one store kind. `open` returns a store in this process that reads the same data as the workers. */
function describeCrossProcess(name: string, kind: "disk" | "redis", setUp: () => Promise<{ location: string; open: () => Storage; cleanUp: () => Promise<void> }>): void {
  describe(`${name} across processes`, () => {
    let workers: Worker[] = [];
    let store: Storage;
    let cleanUp: () => Promise<void>;

    beforeAll(async () => {
      const setup = await setUp();
      cleanUp = setup.cleanUp;
      store = setup.open();
      workers = [new Worker(kind, setup.location), new Worker(kind, setup.location)];
      await Promise.all(workers.map((worker) => worker.ready()));
    }, 30_000);

    afterAll(async () => {
      await Promise.all(workers.map((worker) => worker.stop()));
      await store?.close?.();
      await cleanUp?.();
    });

    it("100 concurrent takes from 2 processes return the value once", async () => {
      const overlaps: boolean[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        const key = `take:${round}`;
        await store.set(key, `value-${round}`, 60);

        const { replies, overlapped } = await runRound(workers, "take", key);

        const values = replies.flatMap((reply) => reply.results).filter((result) => result !== null);
        expect(values).toEqual([`value-${round}`]);
        expect(await store.get(key)).toBeUndefined();
        overlaps.push(overlapped);
      }

      // Without overlapping bursts the test would not show anything about concurrency.
      expect(overlaps.filter(Boolean).length).toBeGreaterThanOrEqual(ROUNDS / 2);
    }, 60_000);

    it("100 concurrent adds from 2 processes store once", async () => {
      for (let round = 0; round < ROUNDS / 2; round += 1) {
        const key = `add:${round}`;

        const { replies } = await runRound(workers, "add", key);

        const winners = replies.flatMap((reply, worker) => reply.results.flatMap((stored, index) => (stored === true ? [{ worker, index }] : [])));
        expect(winners).toHaveLength(1);
        const stored = await store.get(key);
        expect(typeof stored).toBe("string");
        expect(String(stored).endsWith(`:${winners[0]?.index}`)).toBe(true);
      }
    }, 60_000);

    it("100 concurrent increments from 2 processes count to 100", async () => {
      for (let round = 0; round < 3; round += 1) {
        const key = `increment:${round}`;

        const { replies } = await runRound(workers, "increment", key);

        const counts = replies.flatMap((reply) => reply.results as number[]).sort((a, b) => a - b);
        expect(counts).toEqual(Array.from({ length: 2 * CALLS_PER_PROCESS }, (_, index) => index + 1));
        expect(await store.get(key)).toBe(2 * CALLS_PER_PROCESS);
      }
    }, 60_000);
  });
}

describeCrossProcess("DiskStore", "disk", async () => {
  const directory = mkdtempSync(join(tmpdir(), "disk-store-cross-"));
  return {
    location: directory,
    open: () => new DiskStore({ directory }),
    cleanUp: async () => {
      rmSync(directory, { recursive: true, force: true });
    },
  };
});

describeCrossProcess("RedisStore", "redis", async () => {
  const client: Redis = await connectLocalRedis();
  const prefix = `mcp-oauth-proxy-test:${randomUUID()}:`;
  return {
    location: prefix,
    open: () => new RedisStore({ client, keyPrefix: prefix }),
    cleanUp: async () => {
      await deleteKeys(client, prefix);
      await client.quit();
    },
  };
});

describe("DiskStore directory after the cross-process runs", () => {
  let directory: string | undefined;
  let workers: Worker[] = [];

  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    workers = [];
    if (directory !== undefined) {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("contains no scratch or lock files", async () => {
    directory = mkdtempSync(join(tmpdir(), "disk-store-cross-clean-"));
    const store = new DiskStore({ directory });
    workers = [new Worker("disk", directory), new Worker("disk", directory)];
    await Promise.all(workers.map((worker) => worker.ready()));
    await store.set("take", "value", 60);

    await runRound(workers, "take", "take");
    await runRound(workers, "add", "add");
    await runRound(workers, "increment", "increment");

    expect(readdirSync(directory)).toHaveLength(2);
    expect(readdirSync(directory).every((name) => /^[A-Za-z0-9_-]{43}$/.test(name))).toBe(true);
    await store.close();
  }, 60_000);
});
