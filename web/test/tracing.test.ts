import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { context, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { InMemorySpanExporter, SimpleSpanProcessor, WebTracerProvider } from "@opentelemetry/sdk-trace-web";
import { afterEach, describe, expect, it } from "vitest";
import { UserSchema } from "../src/gen/wellspring/v1/resources_pb.js";
import { UserService } from "../src/gen/wellspring/v1/user_service_pb.js";
import { tracingInterceptor } from "../src/tracing.js";

function server(seen: (string | null)[]) {
  return createRouterTransport(
    ({ service }) => {
      service(UserService, {
        getUser(request, ctx) {
          seen.push(ctx.requestHeader.get("traceparent"));
          if (request.id === "ghost") throw new ConnectError("no such user", Code.NotFound);
          return create(UserSchema, { id: request.id });
        },
      });
    },
    { transport: { interceptors: [tracingInterceptor()] } },
  );
}

afterEach(() => {
  trace.disable();
  propagation.disable();
  context.disable();
});

describe("tracing", () => {
  it("sends no traceparent when the page registered no OpenTelemetry SDK", async () => {
    const seen: (string | null)[] = [];
    await createClient(UserService, server(seen)).getUser({ id: "ada" });
    expect(seen).toEqual([null]);
  });

  it("makes a CLIENT span per call and sends its traceparent, errors included", async () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new WebTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const seen: (string | null)[] = [];
    const users = createClient(UserService, server(seen));
    await users.getUser({ id: "ada" });
    await expect(users.getUser({ id: "ghost" })).rejects.toThrow();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(["wellspring.v1.UserService/GetUser", "wellspring.v1.UserService/GetUser"]);
    spans.forEach((span, n) => {
      const { traceId, spanId } = span.spanContext();
      expect(seen[n]).toBe(`00-${traceId}-${spanId}-01`);
    });
    expect(spans.map((s) => s.attributes["rpc.grpc.status_code"])).toEqual([0, Code.NotFound]);
    expect(spans[1]?.status.code).toBe(2); // SpanStatusCode.ERROR
  });
});
