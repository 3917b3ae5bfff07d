package dev.wellspring.client

import dev.wellspring.v1.WatchRequest
import dev.wellspring.v1.WatchServiceGrpc
import io.grpc.CallOptions
import io.grpc.Channel
import io.grpc.ClientCall
import io.grpc.ClientInterceptor
import io.grpc.ClientInterceptors
import io.grpc.Context
import io.grpc.ForwardingClientCall
import io.grpc.ManagedChannel
import io.grpc.Metadata
import io.grpc.MethodDescriptor
import io.grpc.Status
import io.grpc.netty.NettyChannelBuilder
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executor
import java.util.concurrent.ForkJoinPool
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong

/** How a [WellspringClient] behaves; the defaults are the Python SDK's. */
data class ClientOptions(
    /** The deadline of every unary call and of Export (Watch, a change feed, has none). */
    val timeoutMs: Long = 10_000,
    val cacheTtlMs: Long = 30_000,
    /** Each collection's cache bound, by the serialized size of what it holds. */
    val cacheMaxBytes: Long = 16L shl 20,
    val retry: RetryPolicy = RetryPolicy(),
    /** Where cache loads run (they make blocking calls). */
    val executor: Executor = ForkJoinPool.commonPool(),
    /** A bearer token per call (`authorization` metadata); null: none. Called on every call, so it may
     * refresh. */
    val token: (() -> String?)? = null,
    /** Follow the Watch stream, keeping the caches coherent with other clients' writes. */
    val watch: Boolean = true
)

/**
 * The Kotlin facade over the generated Java stubs: `users`, `posts` and `comments`, each with typed calls
 * and a local cache ([Resources]), over one channel (plaintext h2c; `channel` for TLS or any other), kept
 * coherent by one Watch stream that resumes from its last revision and drops every cache after OUT_OF_RANGE.
 */
class WellspringClient(
    private val managed: ManagedChannel,
    val options: ClientOptions = ClientOptions()
) : AutoCloseable {
    constructor(target: String, options: ClientOptions = ClientOptions()) :
        this(NettyChannelBuilder.forTarget(target).usePlaintext().build(), options)

    val channel: Channel = options.token?.let { ClientInterceptors.intercept(managed, Bearer(it)) } ?: managed
    private val call = Call(channel, options.timeoutMs)
    val users = Resources(USERS, { call }, options.retry, options)
    val posts = Resources(POSTS, { call }, options.retry, options)
    val comments = Resources(COMMENTS, { call }, options.retry, options)
    private val byName = listOf(users, posts, comments).associateBy { it.name }

    /** The last revision the Watch stream reached (0: none yet). */
    val revision = AtomicLong()
    private val live = CountDownLatch(1)
    private val watching = Context.current().withCancellation()
    @Volatile private var closed = false
    private val watcher = if (options.watch) Thread(::follow, "wellspring-watch").apply { isDaemon = true; start() } else null

    /** Until the Watch stream has answered once (so writes from now on reach the caches), or false. */
    fun awaitLive(timeoutMs: Long): Boolean = live.await(timeoutMs, TimeUnit.MILLISECONDS)

    private fun follow() {
        var failures = 0
        while (!closed) {
            try {
                watching.run {
                    val request = WatchRequest.newBuilder().setStartRevision(if (revision.get() > 0) revision.get() + 1 else 0).build()
                    for (reply in WatchServiceGrpc.newBlockingStub(channel).watch(request)) {
                        failures = 0
                        for (event in reply.eventsList) byName[event.collection]?.apply(event)
                        if (reply.revision > revision.get()) revision.set(reply.revision)
                        live.countDown()
                    }
                }
                // A stream the server ended without an error is followed again like a failed one (with
                // backoff), never in a tight loop.
                if (!closed) throw Status.UNAVAILABLE.withDescription("the Watch stream ended").asRuntimeException()
            } catch (thrown: RuntimeException) {
                if (closed) return
                val error = WellspringException.from(thrown)
                if (error.code == Status.Code.OUT_OF_RANGE) { // compacted past us: nothing cached can be trusted
                    byName.values.forEach { it.invalidateAll() }
                    revision.set(0)
                }
                failures++
                val cap = minOf(5_000L, 100L shl minOf(failures, 6))
                try {
                    Thread.sleep(maxOf((Math.random() * cap).toLong(), error.retryDelayMs ?: 0))
                } catch (_: InterruptedException) {
                    return
                }
            }
        }
    }

    override fun close() {
        closed = true
        watching.cancel(null)
        managed.shutdownNow()
        managed.awaitTermination(5, TimeUnit.SECONDS)
        watcher?.join(5_000)
    }

    private class Bearer(private val token: () -> String?) : ClientInterceptor {
        override fun <Q, R> interceptCall(method: MethodDescriptor<Q, R>, options: CallOptions, next: Channel): ClientCall<Q, R> =
            object : ForwardingClientCall.SimpleForwardingClientCall<Q, R>(next.newCall(method, options)) {
                override fun start(listener: ClientCall.Listener<R>, headers: Metadata) {
                    token()?.let { headers.put(AUTHORIZATION, "Bearer $it") }
                    super.start(listener, headers)
                }
            }
    }

    private companion object {
        val AUTHORIZATION: Metadata.Key<String> = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER)
    }
}
