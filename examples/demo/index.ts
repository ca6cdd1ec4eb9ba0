// The demo: a full sign-in through the proxy against an embedded upstream,
// driven by the official MCP SDK client, with each step timed.
//
//   npm run demo              run every step once and exit
//   npm run demo -- --serve   keep the servers running for MCP Inspector
import { startDemo } from "./app.js";
import { runFlow } from "./flow.js";

const serve = process.argv.includes("--serve");

async function main(): Promise<void> {
  const started = performance.now();
  const demo = await startDemo(serve ? { port: 8080 } : {});
  console.log(`Proxy and MCP server: ${demo.mcpUrl}`);
  console.log(`Embedded upstream:    ${demo.upstream.issuer}\n`);

  if (serve) {
    console.log("Serving until Ctrl+C. To try it with MCP Inspector:");
    console.log("  npx @modelcontextprotocol/inspector");
    console.log(`  then connect to ${demo.mcpUrl} (Streamable HTTP) and sign in with any user name.`);
    return;
  }

  try {
    await runFlow(demo);
    console.log(`\nAll steps passed in ${Math.round(performance.now() - started)} ms.`);
  } finally {
    await demo.close();
  }
}

main().catch((error: unknown) => {
  console.error("Demo failed:", error);
  process.exitCode = 1;
});
