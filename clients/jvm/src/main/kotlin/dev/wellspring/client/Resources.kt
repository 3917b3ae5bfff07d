package dev.wellspring.client

import com.github.benmanes.caffeine.cache.AsyncCacheLoader
import com.github.benmanes.caffeine.cache.AsyncLoadingCache
import com.github.benmanes.caffeine.cache.Caffeine
import com.google.protobuf.FieldMask
import com.google.protobuf.Message
import dev.wellspring.v1.ChangeEvent
import io.grpc.Channel
import io.grpc.stub.AbstractStub
import java.util.UUID
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
import java.util.concurrent.TimeUnit
import java.util.function.Supplier

/** One page of a List. */
data class Page<T>(val items: List<T>, val nextPageToken: String)

/** What an Import did: counts and the per-item errors (index in the stream, code, field). */
data class ImportResult(val created: Long, val updated: Long, val failed: Long, val errors: List<String>)

/** What one call needs: the channel, and the deadline every call gets. */
class Call internal constructor(val channel: Channel, private val timeoutMs: Long) {
    fun <S : AbstractStub<S>> deadlined(stub: S): S = stub.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS)
}

/** How one collection's generated stubs are called (Collections.kt has the three). */
class Ops<T : Message, L : Message>(
    val name: String,
    val idOf: (T) -> String,
    val get: (Call, String) -> T,
    val batchGet: (Call, List<String>) -> List<T>,
    val list: (Call, L) -> Page<T>,
    val create: (Call, T, String, String) -> T,
    val update: (Call, T, FieldMask) -> T,
    val delete: (Call, String, String) -> Unit,
    val import: (Call, Sequence<List<T>>) -> ImportResult,
    val export: (Call) -> Iterator<List<T>>,
    val fromEvent: (ChangeEvent) -> T?
)

/**
 * Typed calls to one collection, with a local cache in front of Get: Caffeine's async loading cache, which
 * gives the TTL, the bound (bytes, by each message's serialized size) and the dedup of concurrent loads of
 * one id (they share one future, so one RPC); `getAll` sends the ids not cached as one BatchGet. A write's
 * answer replaces its cached entry; the client's Watch stream replaces or evicts entries as other clients
 * write (an event also replaces a load still in flight, so an older answer is never kept after it).
 */
class Resources<T : Message, L : Message> internal constructor(
    private val ops: Ops<T, L>,
    private val call: () -> Call,
    private val retry: RetryPolicy,
    options: ClientOptions
) {
    val name get() = ops.name

    private val cache: AsyncLoadingCache<String, T> = Caffeine.newBuilder()
        .expireAfterWrite(options.cacheTtlMs, TimeUnit.MILLISECONDS)
        .maximumWeight(options.cacheMaxBytes)
        .weigher<String, T> { id, value -> id.length + value.serializedSize + 64 }
        .executor(options.executor)
        .buildAsync(object : AsyncCacheLoader<String, T> {
            override fun asyncLoad(id: String, executor: Executor): CompletableFuture<T> =
                CompletableFuture.supplyAsync(Supplier { read { ops.get(call(), id) } }, executor)

            override fun asyncLoadAll(ids: Iterable<String>, executor: Executor): CompletableFuture<Map<String, T>> =
                CompletableFuture.supplyAsync(Supplier { batch(ids.toList()) }, executor)
        })

    /** One BatchGet for `ids`; a NOT_FOUND names the missing ids (ResourceInfo), and the rest are asked again
     * without them, so a missing id fails only itself. */
    private fun batch(ids: List<String>): Map<String, T> {
        var wanted = ids
        while (true) {
            try {
                return read { ops.batchGet(call(), wanted) }.associateBy(ops.idOf)
            } catch (error: WellspringException) {
                val missing = error.resourceNames.toSet()
                val rest = wanted.filterNot { it in missing }
                if (!error.isNotFound || rest.size == wanted.size) throw error
                if (rest.isEmpty()) return emptyMap()
                wanted = rest
            }
        }
    }

    /** The resource, from the cache or one GetX; NOT_FOUND and other failures as [WellspringException]. */
    fun get(id: String): T = join(cache.get(id))

    /** The resources found (missing ids are absent from the map), the uncached ones by one BatchGet. */
    fun getAll(ids: Iterable<String>): Map<String, T> = join(cache.getAll(ids))

    /** What the cache holds for `id` now, without loading it. */
    fun cached(id: String): T? = cache.getIfPresent(id)?.takeIf { it.isDone && !it.isCompletedExceptionally }?.getNow(null)

    fun list(request: L): Page<T> = read { ops.list(call(), request) }

    /** Create it (`id` empty: the server picks one); retried safely with one request id. */
    fun create(resource: T, id: String = ""): T {
        val requestId = UUID.randomUUID().toString()
        return write { ops.create(call(), resource, id, requestId) }.also { store(it) }
    }

    /** Update the fields named in `paths`; `resource`'s etag, when set, makes it conditional (ABORTED). */
    fun update(resource: T, vararg paths: String): T =
        write { ops.update(call(), resource, FieldMask.newBuilder().addAllPaths(paths.toList()).build()) }
            .also { store(it) }

    fun delete(id: String, etag: String = "") {
        write { ops.delete(call(), id, etag) }
        cache.synchronous().invalidate(id)
    }

    /** A client stream of `chunks`; the cache entries of what it wrote are dropped. */
    fun import(chunks: Sequence<List<T>>): ImportResult {
        val written = mutableListOf<String>()
        return write { ops.import(call(), chunks.map { chunk -> chunk.also { written += it.map(ops.idOf) } }) }
            .also { cache.synchronous().invalidateAll(written) }
    }

    /** Every resource, chunk by chunk as the server streams them (the stream's deadline is the call's). */
    fun export(): Sequence<List<T>> = ops.export(call()).asSequence()

    internal fun apply(event: ChangeEvent) {
        val value = ops.fromEvent(event)
        if (value == null) cache.synchronous().invalidate(event.id) else store(value)
    }

    internal fun invalidateAll() = cache.synchronous().invalidateAll()

    private fun store(value: T) = cache.put(ops.idOf(value), CompletableFuture.completedFuture(value))

    private fun <R> read(block: () -> R): R = retry.run(read = true, call = block)

    private fun <R> write(block: () -> R): R = retry.run(read = false, call = block)

    private fun <R> join(future: CompletableFuture<R>): R =
        try {
            future.join()
        } catch (thrown: java.util.concurrent.CompletionException) {
            throw WellspringException.from(thrown.cause ?: thrown)
        }
}
