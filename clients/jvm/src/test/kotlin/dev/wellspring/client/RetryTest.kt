package dev.wellspring.client

import com.google.protobuf.Any
import com.google.protobuf.Duration
import com.google.rpc.ErrorInfo
import com.google.rpc.RetryInfo
import io.grpc.Status
import io.grpc.StatusRuntimeException
import io.grpc.protobuf.StatusProto
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** Retries and error decoding, without a server. */
class RetryTest {
    private val unavailable = StatusRuntimeException(Status.UNAVAILABLE)

    @Test
    fun `reads are retried on UNAVAILABLE, writes are not`() {
        var calls = 0
        val read = RetryPolicy(attempts = 4, baseDelayMs = 1).run(read = true) { if (++calls < 3) throw unavailable else "ok" }
        assertEquals("ok", read)
        assertEquals(3, calls)
        calls = 0
        assertThrows(WellspringException::class.java) { RetryPolicy(baseDelayMs = 1).run(read = false) { calls++; throw unavailable } }
        assertEquals(1, calls)
    }

    @Test
    fun `a rate-limit refusal waits as long as RetryInfo asks, even for a write`() {
        val status = com.google.rpc.Status.newBuilder().setCode(Status.Code.RESOURCE_EXHAUSTED.value()).setMessage("slow down")
            .addDetails(Any.pack(ErrorInfo.newBuilder().setReason("RATE_LIMITED").setDomain("wellspring.dev").build()))
            .addDetails(Any.pack(RetryInfo.newBuilder().setRetryDelay(Duration.newBuilder().setNanos(60_000_000)).build()))
            .build()
        var calls = 0
        val started = System.nanoTime()
        val done = RetryPolicy(baseDelayMs = 1).run(read = false) { if (++calls == 1) throw StatusProto.toStatusRuntimeException(status) else "ok" }
        assertEquals("ok", done)
        assertTrue(System.nanoTime() - started >= 60_000_000, "retried before the RetryInfo delay")
        val error = WellspringException.from(StatusProto.toStatusRuntimeException(status))
        assertEquals(60L, error.retryDelayMs)
        assertTrue(error.isRateLimited)
    }

    @Test
    fun `attempts are bounded`() {
        var calls = 0
        val error = assertThrows(WellspringException::class.java) { RetryPolicy(attempts = 3, baseDelayMs = 1).run(read = true) { calls++; throw unavailable } }
        assertEquals(Status.Code.UNAVAILABLE, error.code)
        assertEquals(3, calls)
    }
}
