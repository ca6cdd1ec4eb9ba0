import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";

import { Redis } from "ioredis";

/** The Redis that CI runs; `.ci/run` starts it when it is not running. */
export const LOCAL_REDIS_URL = "redis://127.0.0.1:6379";

/** Connects to the Redis at 127.0.0.1:6379, or throws an error that explains how to start it. */
export async function connectLocalRedis(): Promise<Redis> {
  const client = new Redis(LOCAL_REDIS_URL, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let connectionError: Error | undefined;
  client.on("error", (error: Error) => {
    connectionError = error;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    const cause = connectionError ?? error;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(
      `These tests need Redis at 127.0.0.1:6379 and could not reach it (${reason}). ` +
        "Start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`, or run `.ci/run`, which starts it.",
    );
  }

  return client;
}

/** Deletes every key that starts with `prefix`, which must contain no glob characters, and returns how many it deleted. */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      deleted += await client.del(key);
    }
  } while (cursor !== "0");

  return deleted;
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") {
    throw new Error("Could not read the port of a TCP server on 127.0.0.1.");
  }

  return address.port;
}

/** Starts a throwaway `redis-server` on 127.0.0.1:`port` that keeps nothing on disk, and resolves once it accepts connections. */
export async function startRedisServer(port: number, directory: string): Promise<ChildProcess> {
  const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory], {
    stdio: ["ignore", "pipe", "pipe"],
  });

  await new Promise<void>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      server.kill("SIGKILL");
      reject(new Error(`redis-server did not start on port ${port} within 5 s. Its output: ${output}`));
    }, 5_000);
    server.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === "ENOENT" ? new Error("This test starts its own redis-server, which is not on PATH. Install Redis, for example `apt-get install redis-server`.") : error);
    });
    server.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });

  return server;
}

/** Stops a server started by {@link startRedisServer} and waits until it has exited. */
export async function stopRedisServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) {
    return;
  }

  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}
