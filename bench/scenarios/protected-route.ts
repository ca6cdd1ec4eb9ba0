import type { RunningChild } from "../child-process.js";
import { CONNECTIONS, runLoad } from "../load.js";
import type { LoadResult } from "../load.js";
import type { ServerApps, ServerSample } from "../processes/server.js";
import type { Figure, Row } from "../report.js";
import { signIn } from "../sign-in.js";

/** How long and how often each route is loaded. */
export interface ProtectedRouteSettings {
  runs: number;
  durationSeconds: number;
  warmupSeconds: number;
}

interface RouteResult extends LoadResult {
  /** Server CPU time (user and system) per successful response, in microseconds. */
  cpuMicroseconds: number;
  /** Mean wall-clock time of one `bearer()` check inside the server during the test, in microseconds; 0 for the bare route. */
  checkMicroseconds: number;
}

interface RouteTarget {
  id: keyof ServerApps | "bare" | "deferred";
  measurement: string;
  url: string;
  headers: Record<string, string>;
}

/**
 * Loads the bare route, the deferred control route and the three protected routes in turn, once
 * per run, and compares each with the bare route of the same run. The order rotates from run to
 * run, so a slow drift of the machine does not always hit the same route.
 */
export async function measureProtectedRoutes(server: RunningChild<ServerApps>, settings: ProtectedRouteSettings): Promise<Figure> {
  const apps = server.ready;
  const targets: RouteTarget[] = [
    { id: "bare", measurement: "GET /bare", url: `${apps["memory-hs256"]}/bare`, headers: {} },
    { id: "deferred", measurement: "GET /deferred, no check, `next()` from a resolved promise", url: `${apps["memory-hs256"]}/deferred`, headers: {} },
    await protectedTarget("memory-hs256", "HS256, MemoryStore", apps["memory-hs256"]),
    await protectedTarget("memory-es256", "ES256, MemoryStore", apps["memory-es256"]),
    await protectedTarget("redis-hs256", "HS256, RedisStore", apps["redis-hs256"]),
  ];

  for (const target of targets) {
    await runLoad({ url: target.url, headers: target.headers, durationSeconds: settings.warmupSeconds });
  }

  const results = new Map<string, RouteResult[]>(targets.map((target) => [target.id, []]));
  for (let run = 0; run < settings.runs; run++) {
    for (let index = 0; index < targets.length; index++) {
      const target = targets[(index + run) % targets.length] as RouteTarget;
      const before = await server.sample();
      const load = await runLoad({ url: target.url, headers: target.headers, durationSeconds: settings.durationSeconds });
      const after = await server.sample();
      const cpuMicroseconds = (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / load.responses;
      results.get(target.id)?.push({ ...load, cpuMicroseconds, checkMicroseconds: meanCheck(target.id, before.details as ServerSample, after.details as ServerSample) });
    }
  }

  const bare = results.get("bare") ?? [];
  const protectedTargets = targets.slice(1);
  const checkedTargets = targets.slice(2);
  const rows: Row[] = [
    ...protectedTargets.map((target): Row => ({
      id: `route-rps-${target.id}`,
      measurement: `${target.measurement}: throughput`,
      unit: "req/s",
      decimals: 0,
      values: (results.get(target.id) ?? []).map((result) => result.requestsPerSecond),
      baseline: "GET /bare: throughput",
      baselineValues: bare.map((result) => result.requestsPerSecond),
    })),
    ...protectedTargets.map((target): Row => ({
      id: `route-p99-${target.id}`,
      measurement: `${target.measurement}: p99 latency`,
      unit: "ms",
      decimals: 2,
      values: (results.get(target.id) ?? []).map((result) => result.p99Ms),
      baseline: "GET /bare: p99 latency",
      baselineValues: bare.map((result) => result.p99Ms),
    })),
    ...protectedTargets.map((target): Row => ({
      id: `route-cpu-${target.id}`,
      measurement: `${target.measurement}: server CPU per request`,
      unit: "µs",
      decimals: 0,
      values: (results.get(target.id) ?? []).map((result) => result.cpuMicroseconds),
      baseline: "GET /bare: server CPU per request",
      baselineValues: bare.map((result) => result.cpuMicroseconds),
    })),
    ...checkedTargets.map((target): Row => ({
      id: `route-check-${target.id}`,
      measurement: `${target.measurement}: one check inside the server`,
      unit: "µs",
      decimals: 1,
      values: (results.get(target.id) ?? []).map((result) => result.checkMicroseconds),
      baseline: "GET /bare: server CPU per request",
      baselineValues: bare.map((result) => result.cpuMicroseconds),
    })),
  ];

  return {
    title: "1. Protected route against the bare route",
    method: [
      "One Express 5 app per configuration, in a server process of its own, with the proxy router mounted at the root and two routes behind it that send the same `{\"hello\":\"world\"}`: " +
        "`GET /bare`, and `GET /mcp` behind `proxy.bearer({ scopes: [\"mcp:read\"] })`. The configurations: HS256 tokens with the default MemoryStore; " +
        "ES256 tokens (`jwt: { algorithm: \"ES256\" }`, generated keys) with the default MemoryStore; HS256 tokens with a RedisStore on a local Redis, under a key prefix of its own that is deleted afterwards. " +
        "Each token comes from a real sign-in through the proxy against the fake upstream (see figure 3), and every request sends the same token, as an MCP client does between refreshes. " +
        "A control route, `GET /deferred`, has no check but a middleware that calls `next()` from an already-resolved promise, as every async middleware does; it shows what answering after a microtask rather than at once costs by itself.",
      `Load: autocannon in the runner process, ${CONNECTIONS} connections, no pipelining, ${settings.durationSeconds} s per route and run after one ${settings.warmupSeconds} s warm-up of each route; both processes on 127.0.0.1 and sharing the machine's cores. ` +
        "Any non-2xx response fails the benchmark. The baseline is `GET /bare` of the HS256 MemoryStore app, loaded in the same run; " +
        "for latency and CPU the ratio is protected ÷ bare, so a higher ratio is worse.",
      "Server CPU per request is the server process's user and system time (`process.cpuUsage()`) over one load test, divided by its responses. " +
        "Unlike throughput, it does not depend on how much of the machine the load generator and other processes take, so the difference between a protected row and the bare row is what the check costs in the running server. " +
        "The server process also runs the Redis client, so for RedisStore the difference includes the client's work, but not the Redis server's.",
      "One check inside the server is the mean wall-clock time from calling `bearer()` to its `next()`, measured by a wrapper around the middleware in the app under load. " +
        "With a MemoryStore every step of the check is an already-resolved promise, so no other request runs in between and this is the check's own time; with RedisStore it includes the round trip to Redis. " +
        "Its ratio is to the bare route's whole CPU time per request.",
    ],
    rows,
  };
}

function meanCheck(id: RouteTarget["id"], before: ServerSample, after: ServerSample): number {
  if (id === "bare" || id === "deferred") {
    return 0;
  }
  const count = after[id].count - before[id].count;
  return count === 0 ? 0 : (after[id].totalMicroseconds - before[id].totalMicroseconds) / count;
}

async function protectedTarget(id: keyof ServerApps, measurement: string, baseUrl: string): Promise<RouteTarget> {
  const { accessToken } = await signIn(baseUrl);
  return { id, measurement: `GET /mcp with bearer(), ${measurement}`, url: `${baseUrl}/mcp`, headers: { authorization: `Bearer ${accessToken}` } };
}
