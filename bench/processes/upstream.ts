// Child process: the fake upstream, in its own process so its work does not run on the proxy's event loop.
//   node --import tsx bench/processes/upstream.ts <clientId> <clientSecret>
import { serveUntilStopped } from "../child-process.js";
import { startFakeUpstream } from "../fake-upstream.js";

const [clientId = "", clientSecret = ""] = process.argv.slice(2);

serveUntilStopped(async () => {
  const upstream = await startFakeUpstream({ clientId, clientSecret });
  return { value: { url: upstream.url }, stop: () => upstream.close() };
});
