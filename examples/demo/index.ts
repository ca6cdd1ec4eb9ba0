// The demo: a full sign-in through the proxy against an embedded upstream,
// driven by the official MCP SDK client, with each step timed.
//
//   npm run demo              run every step once and exit
//   npm run demo -- --serve   keep the servers running for MCP Inspector
import { startDemo } from "./app.js";
import { runFlow } from "./flow.js";

const serve = process.argv.includes("--serve");
const portIndex = process.argv.indexOf("--port");
const port = portIndex === -1 ? 8080 : Number(process.argv[portIndex + 1]);
// A fixed secret keeps registrations valid across restarts of the serving demo. It is public, so
// it is for this demo only; set MCP_OAUTH_SECRET to use your own.
const DEMO_SECRET = process.env.MCP_OAUTH_SECRET ?? "mcp-oauth-proxy demo secret, public, never use in production";

async function main(): Promise<void> {
  const started = performance.now();
  if (serve && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new Error(`--port must be a port number, not ${process.argv[portIndex + 1] ?? "nothing"}`);
  }

  let demo;
  try {
    demo = await startDemo(serve ? { port, secret: DEMO_SECRET } : {});
  } catch (error) {
    if ((error as { code?: string }).code === "EADDRINUSE") {
      console.error(`Port ${port} on 127.0.0.1 is in use. Stop what runs there, or pick another port: npm run demo -- --serve --port 8081`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
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
