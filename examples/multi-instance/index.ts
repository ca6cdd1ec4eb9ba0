// Two proxy instances sharing one Redis, behind a round-robin load balancer,
// all on 127.0.0.1. The demo flow runs against the balancer, so consecutive
// requests of one sign-in land on different instances.
//
//   npm run example:multi-instance            run the flow once and exit
//   npm run example:multi-instance -- --serve  keep serving on http://127.0.0.1:8080
import { randomBytes } from "node:crypto";
import { RedisStore } from "mcp-oauth-proxy";
import { startDemo, startSharedUpstream } from "../demo/app.js";
import type { Demo } from "../demo/app.js";
import { runFlow } from "../demo/flow.js";
import { Balancer } from "./balancer.js";

const serve = process.argv.includes("--serve");
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function main(): Promise<void> {
  const balancer = await Balancer.start(serve ? 8080 : 0);
  balancer.current = undefined;
  const upstream = await startSharedUpstream([`${balancer.url}/oauth/callback`]);
  // Every instance needs the same secret: it derives the keys that sign tokens and encrypt stored values.
  const secret = process.env.MCP_OAUTH_SECRET ?? randomBytes(32).toString("base64url");

  const stores: RedisStore[] = [];
  const instances: Demo[] = [];
  for (let index = 0; index < 2; index++) {
    const storage = new RedisStore({ url: redisUrl, keyPrefix: "mcp-oauth-proxy-example:" });
    stores.push(storage);
    instances.push(await startDemo({ publicUrl: balancer.url, upstream, secret, storage }));
  }
  balancer.targets.push(...instances.map((instance) => instance.localUrl));
  console.log(`Load balancer:  ${balancer.url} -> ${balancer.targets.join(", ")}`);
  console.log(`Redis:          ${redisUrl}\n`);

  if (serve) {
    console.log(`Serving until Ctrl+C. Connect MCP Inspector to ${balancer.url}/mcp and sign in with any user name.`);
    return;
  }

  try {
    await runFlow({ baseUrl: balancer.url, mcpUrl: `${balancer.url}/mcp` });
    console.log(`\nRequests served per instance: ${balancer.served.join(", ")}`);
  } finally {
    await Promise.all(instances.map((instance) => instance.close()));
    await Promise.all(stores.map((store) => store.close()));
    await upstream.server.close();
    await balancer.close();
  }
}

main().catch((error: unknown) => {
  console.error("Multi-instance example failed:", error);
  process.exitCode = 1;
});
