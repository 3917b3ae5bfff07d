package dev.wellspring.client

import dev.wellspring.v1.Comment
import dev.wellspring.v1.ListCommentsRequest
import dev.wellspring.v1.ListPostsRequest
import dev.wellspring.v1.ListUsersRequest
import dev.wellspring.v1.Post
import dev.wellspring.v1.User
import io.grpc.Status
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import java.io.File
import java.util.UUID
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/**
 * The facade against a real server the Python harness started (tests/e2e/test_jvm_client.py), either
 * directly or through the project's Envoy: WELLSPRING_TARGET, WELLSPRING_TOKEN (an admin's bearer token),
 * WELLSPRING_SERVER_LOG (the server's JSON access log, to count the RPCs it served).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ServerTest {
    private val target = env("WELLSPRING_TARGET")
    private val token = env("WELLSPRING_TOKEN")
    private val log = File(env("WELLSPRING_SERVER_LOG"))
    private val client = WellspringClient(target, ClientOptions(token = { token }))
    private val run = UUID.randomUUID().toString().take(8) // ids of this run: direct and Envoy share a server

    @AfterAll
    fun close() = client.close()

    @Test
    fun `users - every method`() {
        val ada = client.users.create(User.newBuilder().setEmail("ada-$run@x.test").setDisplayName("Ada").build(), "ada-$run")
        assertEquals("ada-$run", ada.id)
        assertEquals("Ada", client.users.get(ada.id).displayName)
        val bob = client.users.create(User.newBuilder().setEmail("bob-$run@x.test").setDisplayName("Bob $run").build())
        assertEquals(setOf(ada.id, bob.id), client.users.getAll(listOf(ada.id, bob.id, "absent-$run")).keys)
        val found = client.users.list(ListUsersRequest.newBuilder().setQuery("Bob $run").build())
        assertEquals(listOf(bob.id), found.items.map { it.id })
        val renamed = client.users.update(ada.toBuilder().setDisplayName("Ada L.").build(), "display_name")
        assertNotEquals(ada.etag, renamed.etag)
        assertEquals("Ada L.", client.users.get(ada.id).displayName) // the write's answer, cached
        val stale = assertThrows(WellspringException::class.java) {
            client.users.update(ada.toBuilder().setDisplayName("Ada (stale)").build(), "display_name")
        }
        assertTrue(stale.isConflict, stale.toString())
        val imported = client.users.import(sequenceOf((1..30).map {
            User.newBuilder().setId("imp-$run-$it").setEmail("imp$it-$run@x.test").setDisplayName("Imported").build()
        }))
        assertEquals(30L, imported.created)
        val exported = client.users.export().flatten().map { it.id }.toSet()
        assertTrue(exported.containsAll(listOf(ada.id, bob.id, "imp-$run-7")))
        client.users.delete(bob.id, client.users.get(bob.id).etag)
        assertTrue(assertThrows(WellspringException::class.java) { client.users.get(bob.id) }.isNotFound)
    }

    @Test
    fun `posts and comments - every method`() {
        val author = client.users.create(User.newBuilder().setEmail("author-$run@x.test").setDisplayName("Author").build())
        val post = client.posts.create(Post.newBuilder().setAuthorId(author.id).setTitle("On JVMs").setBody("…").addTags("jvm-$run").build())
        assertEquals("On JVMs", client.posts.get(post.id).title)
        assertEquals(setOf(post.id), client.posts.getAll(listOf(post.id)).keys)
        assertEquals(listOf(post.id), client.posts.list(ListPostsRequest.newBuilder().setTag("jvm-$run").build()).items.map { it.id })
        assertEquals("Revised", client.posts.update(post.toBuilder().setTitle("Revised").build(), "title").title)
        val comment = client.comments.create(Comment.newBuilder().setPostId(post.id).setAuthorId(author.id).setBody("First").build())
        assertEquals("First", client.comments.get(comment.id).body)
        assertEquals(setOf(comment.id), client.comments.getAll(listOf(comment.id)).keys)
        assertEquals(listOf(comment.id), client.comments.list(ListCommentsRequest.newBuilder().setPostId(post.id).build()).items.map { it.id })
        assertEquals("Edited", client.comments.update(comment.toBuilder().setBody("Edited").build(), "body").body)
        val more = client.comments.import(sequenceOf(listOf(Comment.newBuilder().setId("c-$run").setPostId(post.id).setAuthorId(author.id).setBody("Imported").build())))
        assertEquals(1L, more.created + more.updated)
        assertTrue(client.comments.export().flatten().any { it.id == "c-$run" })
        val posts = client.posts.import(sequenceOf(listOf(Post.newBuilder().setId("p-$run").setAuthorId(author.id).setTitle("Imported").build())))
        assertEquals(1L, posts.created)
        assertTrue(client.posts.export().flatten().any { it.id == "p-$run" })
        client.comments.delete(comment.id)
        client.comments.delete("c-$run")
        client.posts.delete(post.id)
        assertTrue(assertThrows(WellspringException::class.java) { client.posts.get(post.id) }.isNotFound)
    }

    @Test
    fun `a long import is sent as the server takes it`() {
        val chunks = (0 until 40).asSequence().map { chunk ->
            (0 until 250).map { n ->
                User.newBuilder().setId("bulk-$run-$chunk-$n").setEmail("b$chunk.$n-$run@x.test").setDisplayName("Bulk").build()
            }
        }
        assertEquals(ImportResult(10_000, 0, 0, emptyList()), client.users.import(chunks))
        assertEquals("Bulk", client.users.get("bulk-$run-39-249").displayName)
    }

    @Test
    fun `errors carry their reason, field violations and resource names`() {
        val invalid = assertThrows(WellspringException::class.java) {
            client.users.create(User.newBuilder().setEmail("not-an-email").setDisplayName("Mallory").build())
        }
        assertEquals(Status.Code.INVALID_ARGUMENT, invalid.code)
        assertTrue(invalid.fieldViolations.any { it.field.endsWith("email") }, invalid.fieldViolations.toString())
        val missing = assertThrows(WellspringException::class.java) { client.users.get("absent-$run") }
        assertEquals(Status.Code.NOT_FOUND, missing.code)
        assertTrue(missing.resourceNames.any { it.contains("absent-$run") }, missing.resourceNames.toString())
        WellspringClient(target, ClientOptions(watch = false)).use { anonymous ->
            val refused = assertThrows(WellspringException::class.java) { anonymous.users.get("ada-$run") }
            assertEquals(Status.Code.UNAUTHENTICATED, refused.code)
            assertEquals("TOKEN_MISSING", refused.reason)
        }
    }

    @Test
    fun `every call has a deadline`() {
        WellspringClient(target, ClientOptions(token = { token }, timeoutMs = 0, watch = false)).use { hurried ->
            val late = assertThrows(WellspringException::class.java) { hurried.users.get("ada-$run") }
            assertEquals(Status.Code.DEADLINE_EXCEEDED, late.code)
        }
    }

    @Test
    fun `another client's write reaches the cache through Watch`() {
        assertTrue(client.awaitLive(10_000), "the Watch stream never answered")
        val user = client.users.create(User.newBuilder().setEmail("w-$run@x.test").setDisplayName("Before").build())
        assertEquals("Before", client.users.get(user.id).displayName)
        WellspringClient(target, ClientOptions(token = { token }, watch = false)).use { other ->
            other.users.update(user.toBuilder().setDisplayName("After").setEtag("").build(), "display_name")
        }
        until(10_000, "the cached user was not updated by the Watch event") { client.users.cached(user.id)?.displayName == "After" }
        WellspringClient(target, ClientOptions(token = { token }, watch = false)).use { other -> other.users.delete(user.id) }
        until(10_000, "the deleted user stayed cached") { client.users.cached(user.id) == null }
        assertTrue(client.revision.get() > 0)
    }

    @Test
    fun `concurrent gets of one id are one RPC`() {
        val user = WellspringClient(target, ClientOptions(token = { token }, watch = false)).use { other ->
            other.users.create(User.newBuilder().setEmail("hot-$run@x.test").setDisplayName("Hot").build())
        }
        WellspringClient(target, ClientOptions(token = { token }, watch = false)).use { fresh ->
            val before = served("GetUser")
            val threads = 32
            val start = CountDownLatch(1)
            val pool = Executors.newFixedThreadPool(threads)
            val results = (1..threads).map { pool.submit<String> { start.await(); fresh.users.get(user.id).displayName } }
            start.countDown()
            assertEquals(List(threads) { "Hot" }, results.map { it.get(10, TimeUnit.SECONDS) })
            pool.shutdown()
            // A sentinel after them all: once its NOT_FOUND is logged, so is every GetUser before it.
            val notFound = served("GetUser", "NOT_FOUND")
            assertThrows(WellspringException::class.java) { fresh.users.get("sentinel-$run") }
            until(10_000, "the sentinel was never logged") { served("GetUser", "NOT_FOUND") > notFound }
            assertEquals(2, served("GetUser") - before, "$threads concurrent gets of one id, then the sentinel")
        }
    }

    private fun served(method: String, status: String? = null): Int =
        log.readLines().count { line ->
            line.startsWith("{") && line.contains("\"message\": \"rpc\"") && line.contains("/$method\"") &&
                (status == null || line.contains("\"status\": \"$status\""))
        }
}

fun env(name: String): String = System.getenv(name) ?: throw IllegalStateException("$name is not set: run the JVM tests through `make test` (tests/e2e/test_jvm_client.py)")

/** Wait for `check` (polled), failing with `what` after `timeoutMs`. */
fun until(timeoutMs: Long, what: String, check: () -> Boolean) {
    val deadline = System.nanoTime() + timeoutMs * 1_000_000
    while (!check()) {
        assertTrue(System.nanoTime() < deadline, what)
        Thread.sleep(10)
    }
}

