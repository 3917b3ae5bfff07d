/** OpenTelemetry for the browser client: a CLIENT span per call, its W3C `traceparent` sent with the call,
 * so that one trace runs browser -> Envoy -> server -> database. Written against `@opentelemetry/api`
 * only: with no SDK registered in the page (the default) the API is a no-op, no span is made and no header
 * is sent. An app that registers one (e.g. `@opentelemetry/sdk-trace-web`'s `WebTracerProvider` with an
 * OTLP exporter, and the W3C propagator) gets its calls traced. Hand-written because connect-es has no
 * OpenTelemetry interceptor of its own; the attributes follow OpenTelemetry's RPC conventions, as the
 * server's gRPC instrumentation writes them. */
import { type Interceptor, ConnectError } from "@connectrpc/connect";
import { SpanKind, SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";

const TRACER = "wellspring-web";

export function tracingInterceptor(tracerName = TRACER): Interceptor {
  return (next) => async (request) => {
    const tracer = trace.getTracer(tracerName);
    const service = request.service.typeName;
    const span = tracer.startSpan(`${service}/${request.method.name}`, {
      kind: SpanKind.CLIENT,
      attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": request.method.name },
    });
    // The span's context, explicitly: no context manager is needed for the header to name it.
    propagation.inject(trace.setSpan(context.active(), span), request.header, {
      set: (header, key, value) => header.set(key, value),
    });
    try {
      const response = await next(request);
      span.setAttribute("rpc.grpc.status_code", 0);
      return response; // a stream's span ends once its headers are in: what it streams is not timed
    } catch (thrown) {
      const error = ConnectError.from(thrown);
      span.setAttribute("rpc.grpc.status_code", error.code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.rawMessage });
      throw thrown;
    } finally {
      span.end();
    }
  };
}
