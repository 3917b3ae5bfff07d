package dev.wellspring.client

import dev.wellspring.v1.GetUserRequest
import dev.wellspring.v1.User
import dev.wellspring.v1.UserServiceGrpc
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Tag
import org.junit.jupiter.api.Test
import java.util.UUID
import java.util.concurrent.TimeUnit

/**
 * `make bench`'s JVM figures (bench/jvm.py runs this class alone; `make test` leaves the tag out), each the
 * median of rounds after a warm-up, printed as `name = value`:
 * `jvm_cached_get_ns`, the facade's cached hit (`users.get` of a cached id: Caffeine's lookup of a completed
 * future and its join); `jvm_rpc_get_us`, a real GetUser round trip through the blocking stub.
 */
@Tag("bench")
class BenchTest {
    @Test
    fun figures() {
        val target = env("WELLSPRING_TARGET")
        WellspringClient(target, ClientOptions(watch = false, token = System.getenv("WELLSPRING_TOKEN")?.let { t -> { t } })).use { client ->
            val id = "bench-${UUID.randomUUID().toString().take(8)}"
            client.users.create(User.newBuilder().setEmail("$id@x.test").setDisplayName("Bench").build(), id)
            var sink = 0
            val hits = rounds(7, warmup = { repeat(200_000) { sink += client.users.get(id).displayName.length } }) {
                val n = 1_000_000
                val started = System.nanoTime()
                repeat(n) { sink += client.users.get(id).displayName.length }
                (System.nanoTime() - started).toDouble() / n
            }
            val stub = UserServiceGrpc.newBlockingStub(client.channel)
            val request = GetUserRequest.newBuilder().setId(id).build()
            val rpcs = rounds(7, warmup = { repeat(1_000) { stub.withDeadlineAfter(10, TimeUnit.SECONDS).getUser(request) } }) {
                val n = 500
                val started = System.nanoTime()
                repeat(n) { sink += stub.withDeadlineAfter(10, TimeUnit.SECONDS).getUser(request).displayName.length }
                (System.nanoTime() - started).toDouble() / n / 1_000
            }
            assertEquals(0, sink % 5) // "Bench": keeps the loops' work from being optimised away
            println("jvm_cached_get_ns = %.1f".format(hits))
            println("jvm_rpc_get_us = %.1f".format(rpcs))
        }
    }

    private fun rounds(count: Int, warmup: () -> Unit, round: () -> Double): Double {
        warmup()
        return List(count) { round() }.sorted()[count / 2]
    }
}
