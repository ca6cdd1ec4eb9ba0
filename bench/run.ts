// Runs every benchmark and writes bench/RESULTS.md.
//
//   npx tsx bench/run.ts            the full run (about three minutes on two cores)
//   npx tsx bench/run.ts --quick    a short smoke run that prints the report instead of writing it
//   npx tsx bench/run.ts --output FILE
//
// Needs Redis at 127.0.0.1:6379. Every server binds to 127.0.0.1 on a free port.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startChild } from "./child-process.js";
import { describeMachine } from "./machine.js";
import type { ServerApps } from "./processes/server.js";
import { formatNumber, renderReport } from "./report.js";
import type { Figure, Report } from "./report.js";
import { measureBearerCheck } from "./scenarios/bearer-check.js";
import { measureHeap } from "./scenarios/heap.js";
import { measureProtectedRoutes } from "./scenarios/protected-route.js";
import { measureSignInLatency } from "./scenarios/sign-in-latency.js";
import { measureTokenEndpoint } from "./scenarios/token-endpoint.js";
import { REDIS_URL } from "./settings.js";
import { checkTargets } from "./targets.js";

/** Everything that sets how long the run takes. */
interface Settings {
  runs: number;
  routeSeconds: number;
  warmupSeconds: number;
  tokenSeconds: number;
  codesPerRun: number;
  bearerTaskMilliseconds: number;
  heapCounts: number[];
}

const FULL: Settings = { runs: 5, routeSeconds: 3, warmupSeconds: 1, tokenSeconds: 3, codesPerRun: 400, bearerTaskMilliseconds: 500, heapCounts: [10_000, 100_000] };
const QUICK: Settings = { runs: 5, routeSeconds: 1, warmupSeconds: 1, tokenSeconds: 1, codesPerRun: 100, bearerTaskMilliseconds: 100, heapCounts: [1_000, 10_000] };

/** The fake upstream's client credentials for the proxy; the runner needs them for the baseline. */
const UPSTREAM_CLIENT = { clientId: "bench-proxy", clientSecret: randomBytes(24).toString("base64url") };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false }, output: { type: "string" } } });
  const settings = values.quick ? QUICK : FULL;
  const output = values.output ?? (values.quick ? undefined : fileURLToPath(new URL("./RESULTS.md", import.meta.url)));
  const started = performance.now();
  const loadBefore = os.loadavg()[0] ?? 0;
  const machine = await describeMachine(REDIS_URL);

  const figures: Figure[] = [];
  progress("starting the fake upstream and the apps");
  const upstream = await startChild<{ url: string }>("upstream", [UPSTREAM_CLIENT.clientId, UPSTREAM_CLIENT.clientSecret]);
  try {
    const server = await startChild<ServerApps>("server", [upstream.ready.url, UPSTREAM_CLIENT.clientId, UPSTREAM_CLIENT.clientSecret]);
    try {
      progress("figure 1: protected routes");
      figures.push(await measureProtectedRoutes(server, { runs: settings.runs, durationSeconds: settings.routeSeconds, warmupSeconds: settings.warmupSeconds }));
      progress("figure 3: token endpoint");
      figures.push(await measureTokenEndpoint(server.ready["memory-hs256"], { url: upstream.ready.url, ...UPSTREAM_CLIENT }, {
        runs: settings.runs,
        durationSeconds: settings.tokenSeconds,
        codesPerRun: settings.codesPerRun,
      }));
    } finally {
      await server.stop();
    }
  } finally {
    await upstream.stop();
  }

  progress("figure 2: one bearer() check");
  figures.splice(1, 0, await measureBearerCheck({ runs: settings.runs, taskMilliseconds: settings.bearerTaskMilliseconds }));
  progress("figure 4: sign-in latency");
  figures.push(await measureSignInLatency(settings));
  progress("figure 5: heap per grant");
  const heap = await measureHeap({ runs: settings.runs, counts: settings.heapCounts });
  figures.push(heap.figure);

  const report: Report = {
    generatedAt: new Date(),
    durationSeconds: (performance.now() - started) / 1000,
    command: process.env.npm_lifecycle_event === "bench" ? "npm run bench" : ["npx tsx bench/run.ts", ...process.argv.slice(2)].join(" "),
    machine,
    settings: [
      `Runs per figure: ${settings.runs}. The runner, the apps and the fake upstream are separate Node.js processes on 127.0.0.1 that share the machine's ${machine.cores} cores.`,
      `1-minute load average: ${formatNumber(loadBefore, 2)} before the run, ${formatNumber(os.loadavg()[0] ?? 0, 2)} after it. Other work on the machine during the run lowers every figure, but a figure and its baseline share each run.`,
      "The proxy runs from its TypeScript sources through tsx, as the examples do, in the same processes for every configuration.",
    ],
    targets: checkTargets(figures, heap.result),
    figures,
  };

  const markdown = renderReport(report);
  if (output === undefined) {
    process.stdout.write(markdown);
  } else {
    await writeFile(output, markdown);
    progress(`wrote ${output}`);
  }
  progress(`done in ${formatNumber(report.durationSeconds, 0)} s`);
}

const startedAt = performance.now();

function progress(message: string): void {
  process.stderr.write(`[bench ${formatNumber((performance.now() - startedAt) / 1000, 0).padStart(3)} s] ${message}\n`);
}

main().catch((error: unknown) => {
  console.error("Benchmark failed:", error);
  process.exitCode = 1;
});
