// Child process for cross-process.test.ts, run with `node --import tsx`. Arguments: the store
// kind ("disk" or "redis") and its location (a directory, or a key prefix for the local Redis).
// It reads one JSON command per line on stdin and writes one JSON reply per line on stdout.
import { createInterface } from "node:readline";

import { DiskStore } from "../../lib/storage/disk.js";
import { RedisStore } from "../../lib/storage/redis.js";
import type { Storage } from "../../lib/storage/types.js";

/** A burst of `count` concurrent calls of `operation` on `key`, started at `startAt` (epoch milliseconds). */
export interface BurstCommand {
  operation: "take" | "add" | "increment";
  key: string;
  count: number;
  startAt: number;
}

/** The results of one burst, in call order, and when it started and ended (epoch milliseconds). */
export interface BurstReply {
  results: unknown[];
  startedAt: number;
  endedAt: number;
}

function openStore(kind: string | undefined, location: string | undefined): Storage {
  if (location === undefined) {
    throw new Error("Usage: store-worker.ts disk|redis <directory or key prefix>");
  }

  if (kind === "disk") {
    return new DiskStore({ directory: location });
  }

  if (kind === "redis") {
    return new RedisStore({ url: "redis://127.0.0.1:6379", keyPrefix: location });
  }

  throw new Error(`Unknown store kind ${JSON.stringify(kind)}. Use disk or redis.`);
}

function callOnce(store: Storage, command: BurstCommand, index: number): Promise<unknown> {
  switch (command.operation) {
    case "take":
      return store.take(command.key);
    case "add":
      return store.add(command.key, `${process.pid}:${index}`, 60);
    case "increment":
      return store.increment(command.key, 60);
  }
}

async function runBurst(store: Storage, command: BurstCommand): Promise<BurstReply> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, command.startAt - Date.now())));
  const startedAt = Date.now();
  const results = await Promise.all(Array.from({ length: command.count }, (_, index) => callOnce(store, command, index)));
  return { results: results.map((result) => result ?? null), startedAt, endedAt: Date.now() };
}

async function main(): Promise<void> {
  const store = openStore(process.argv[2], process.argv[3]);
  // One read first, so a Redis connection is open before the first burst.
  await store.get("worker-warm-up");
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

  for await (const line of createInterface({ input: process.stdin })) {
    const reply = await runBurst(store, JSON.parse(line) as BurstCommand);
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  }

  await store.close?.();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
