package dev.wellspring.client

import io.grpc.Status
import java.util.concurrent.ThreadLocalRandom

/** How reads are retried: UNAVAILABLE (a replica draining, the network) and a rate-limit refusal, with
 * full-jitter exponential backoff, never sooner than the server's RetryInfo asks. */
data class RetryPolicy(val attempts: Int = 4, val baseDelayMs: Long = 50, val maxDelayMs: Long = 2_000) {
    internal fun <T> run(read: Boolean, call: () -> T): T {
        var attempt = 0
        while (true) {
            try {
                return call()
            } catch (thrown: Throwable) {
                val error = WellspringException.from(thrown)
                val retryable = error.isRateLimited || (read && error.code == Status.Code.UNAVAILABLE)
                if (!retryable || ++attempt >= attempts) throw error
                val cap = minOf(maxDelayMs, baseDelayMs shl minOf(attempt, 16))
                Thread.sleep(maxOf(ThreadLocalRandom.current().nextLong(cap + 1), error.retryDelayMs ?: 0))
            }
        }
    }
}
