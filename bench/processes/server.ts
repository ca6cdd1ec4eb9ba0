// Child process: the apps under load, one per proxy configuration, in a process of their own
// so autocannon's work does not run on their event loop.
//   node --import tsx bench/processes/server.ts <upstreamUrl> <clientId> <clientSecret>
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { RedisStore } from "mcp-oauth-proxy";
import { serveUntilStopped } from "../child-process.js";
import { startProxyApp } from "../proxy-app.js";
import type { CheckTiming, ProxyApp, UpstreamClientConfig } from "../proxy-app.js";
import { REDIS_URL } from "../settings.js";

/** Base URL of each app, by configuration. */
export interface ServerApps {
  "memory-hs256": string;
  "memory-es256": string;
  "redis-hs256": string;
}

/** The `bearer()` timings of each app, as `sample` reports them. */
export type ServerSample = Record<keyof ServerApps, CheckTiming>;

const [url = "", clientId = "", clientSecret = ""] = process.argv.slice(2);
const upstream: UpstreamClientConfig = { url, clientId, clientSecret };

serveUntilStopped(async () => {
  // A prefix of its own keeps this run's keys apart from anything else in the Redis, so cleanup deletes only them.
  const keyPrefix = `mcp-oauth-proxy-bench:${process.pid}-${randomBytes(6).toString("hex")}:`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2, commandTimeout: 5000 });
  await redis.ping();

  const apps: ProxyApp[] = [
    await startProxyApp({ upstream }),
    await startProxyApp({ upstream, jwt: { algorithm: "ES256" } }),
    await startProxyApp({ upstream, storage: new RedisStore({ client: redis, keyPrefix }) }),
  ];
  const [memoryHs256, memoryEs256, redisHs256] = apps as [ProxyApp, ProxyApp, ProxyApp];
  const value: ServerApps = { "memory-hs256": memoryHs256.url, "memory-es256": memoryEs256.url, "redis-hs256": redisHs256.url };

  return {
    value,
    sample: (): ServerSample => ({ "memory-hs256": { ...memoryHs256.checks }, "memory-es256": { ...memoryEs256.checks }, "redis-hs256": { ...redisHs256.checks } }),
    async stop() {
      await Promise.all(apps.map((app) => app.close()));
      const deleted = await deleteKeys(redis, keyPrefix);
      console.error(`Deleted ${deleted} Redis keys under ${keyPrefix}`);
      await redis.quit();
    },
  };
});

async function deleteKeys(redis: Redis, keyPrefix: string): Promise<number> {
  let deleted = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) {
      deleted += await redis.del(...keys);
    }
  } while (cursor !== "0");
  return deleted;
}
