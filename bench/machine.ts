import { readFile } from "node:fs/promises";
import os from "node:os";
import { Redis } from "ioredis";
import type { MachineInfo } from "./report.js";

/** Packages whose versions shape the numbers, and the benchmark tools. */
const PACKAGES = ["express", "jsonwebtoken", "ioredis", "@modelcontextprotocol/sdk", "oidc-provider", "autocannon", "tinybench", "tsx"];

/** Reads the CPU, memory, OS, Node.js version and package versions of this machine. */
export async function describeMachine(redisUrl: string): Promise<MachineInfo> {
  const cpus = os.cpus();
  const packages: Record<string, string> = { "mcp-oauth-proxy": await packageVersion(new URL("../package.json", import.meta.url)) };
  for (const name of PACKAGES) {
    packages[name] = await packageVersion(new URL(`../node_modules/${name}/package.json`, import.meta.url));
  }
  packages["Redis server"] = await redisVersion(redisUrl);

  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    packages,
  };
}

async function packageVersion(file: URL): Promise<string> {
  const manifest = JSON.parse(await readFile(file, "utf8")) as { version?: string };
  return manifest.version ?? "unknown";
}

async function redisVersion(url: string): Promise<string> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2000, lazyConnect: true });
  try {
    await redis.connect();
    return /redis_version:(\S+)/.exec(await redis.info("server"))?.[1] ?? "unknown";
  } finally {
    redis.disconnect();
  }
}
