// grpcweb_get_vs_grpc_get: the same Node client (@connectrpc/connect-node) calling GetUser through
// Envoy's grpc-web (HTTP/1.1, as browsers do) and over gRPC straight to the server, in alternating rounds.
// Built for Node by `npm run build:bench` (Node 20 runs no TypeScript): node dist-bench/grpcweb.js ENVOY_URL
// SERVER_URL ID [ROUNDS CALLS] -> one JSON line on stdout.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { UserService } from "../src/gen/wellspring/v1/user_service_pb.js";

const [envoyUrl = "", serverUrl = "", id = "", rounds = "20", calls = "300"] = process.argv.slice(2);
const web = createClient(UserService, createGrpcWebTransport({ baseUrl: envoyUrl, httpVersion: "1.1" }));
const grpc = createClient(UserService, createGrpcTransport({ baseUrl: serverUrl }));
// Native gRPC through the same Envoy: splits the grpc-web figure into the proxy's hop and the filter's cost.
const viaEnvoy = createClient(UserService, createGrpcTransport({ baseUrl: envoyUrl }));

type Users = ReturnType<typeof createClient<typeof UserService>>;

async function timed(client: Users, n: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await client.getUser({ id });
  return Number(process.hrtime.bigint() - started) / 1e3 / n; // µs per call
}

await timed(web, 100);
await timed(grpc, 100);
await timed(viaEnvoy, 100);
const ratios: number[] = [];
const sides: { web: number[]; grpc: number[]; envoy: number[] } = { web: [], grpc: [], envoy: [] };
const n = Number(calls);
for (let r = 0; r < Number(rounds); r++) {
  let a: number;
  let b: number;
  if (r % 2) {
    b = await timed(grpc, n);
    a = await timed(web, n);
  } else {
    a = await timed(web, n);
    b = await timed(grpc, n);
  }
  sides.web.push(a);
  sides.grpc.push(b);
  sides.envoy.push(await timed(viaEnvoy, n));
  ratios.push(a / b);
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(
  JSON.stringify({
    ratio: median(ratios),
    web_us: median(sides.web),
    grpc_us: median(sides.grpc),
    grpc_via_envoy_us: median(sides.envoy),
    rounds: ratios.length,
  }),
);
