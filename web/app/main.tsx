/** The demo app: users (search as you type, infinite scroll, create), a user's page (profile editing with
 * field violations, conflicts and optimistic rollback; their posts), a post's page with live comments,
 * and an offline banner. Everything goes through the TypeScript client (../src) and Envoy's grpc-web. */
import { propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { InMemorySpanExporter, SimpleSpanProcessor, WebTracerProvider } from "@opentelemetry/sdk-trace-web";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { WellspringWebClient } from "../src/client.js";
import { App } from "./App.js";
import { ClientContext } from "./hooks.js";

const params = new URLSearchParams(window.location.search);
if (params.has("trace")) {
  // `?trace`: an OpenTelemetry SDK in the page, so the client's calls are traced end to end (a real app
  // would export to its collector with @opentelemetry/exporter-trace-otlp-http; the demo keeps its spans
  // in memory, where the e2e tests read them).
  const spans = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new WebTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  (window as unknown as { wellspringSpans: InMemorySpanExporter }).wellspringSpans = spans;
}
const api = params.get("api") ?? `${window.location.protocol}//${window.location.hostname}:8080`;
const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: 30_000, retry: false } } });
const client = new WellspringWebClient({
  baseUrl: api,
  queryClient,
  ...(params.get("token") ? { token: params.get("token") as string } : {}),
});
client.start();
(window as unknown as { wellspring: WellspringWebClient }).wellspring = client; // for the e2e tests

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <ClientContext.Provider value={client}>
          <App />
        </ClientContext.Provider>
      </QueryClientProvider>
    </StrictMode>,
  );
}
