package dev.wellspring.client

import dev.wellspring.v1.BatchGetCommentsRequest
import dev.wellspring.v1.BatchGetPostsRequest
import dev.wellspring.v1.BatchGetUsersRequest
import dev.wellspring.v1.ChangeEvent
import dev.wellspring.v1.Comment
import dev.wellspring.v1.CommentServiceGrpc
import dev.wellspring.v1.CreateCommentRequest
import dev.wellspring.v1.CreatePostRequest
import dev.wellspring.v1.CreateUserRequest
import dev.wellspring.v1.DeleteCommentRequest
import dev.wellspring.v1.DeletePostRequest
import dev.wellspring.v1.DeleteUserRequest
import dev.wellspring.v1.ExportCommentsRequest
import dev.wellspring.v1.ExportPostsRequest
import dev.wellspring.v1.ExportUsersRequest
import dev.wellspring.v1.GetCommentRequest
import dev.wellspring.v1.GetPostRequest
import dev.wellspring.v1.GetUserRequest
import dev.wellspring.v1.ImportCommentsRequest
import dev.wellspring.v1.ImportCommentsResponse
import dev.wellspring.v1.ImportError
import dev.wellspring.v1.ImportPostsRequest
import dev.wellspring.v1.ImportPostsResponse
import dev.wellspring.v1.ImportUsersRequest
import dev.wellspring.v1.ImportUsersResponse
import dev.wellspring.v1.ListCommentsRequest
import dev.wellspring.v1.ListPostsRequest
import dev.wellspring.v1.ListUsersRequest
import dev.wellspring.v1.Post
import dev.wellspring.v1.PostServiceGrpc
import dev.wellspring.v1.UpdateCommentRequest
import dev.wellspring.v1.UpdatePostRequest
import dev.wellspring.v1.UpdateUserRequest
import dev.wellspring.v1.User
import dev.wellspring.v1.UserServiceGrpc
import io.grpc.stub.ClientCallStreamObserver
import io.grpc.stub.ClientResponseObserver
import io.grpc.stub.StreamObserver
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock

// The three collections' calls. Each is the same shape over other generated types: grpc-java generates no
// common interface for them, so the shape is written once (Ops) and filled in here, one line per method.

internal val USERS = Ops<User, ListUsersRequest>(
    "users", User::getId,
    get = { c, id -> c.deadlined(UserServiceGrpc.newBlockingStub(c.channel)).getUser(GetUserRequest.newBuilder().setId(id).build()) },
    batchGet = { c, ids -> c.deadlined(UserServiceGrpc.newBlockingStub(c.channel)).batchGetUsers(BatchGetUsersRequest.newBuilder().addAllIds(ids).build()).usersList },
    list = { c, r -> c.deadlined(UserServiceGrpc.newBlockingStub(c.channel)).listUsers(r).let { Page(it.usersList, it.nextPageToken) } },
    create = { c, u, id, rid -> c.deadlined(UserServiceGrpc.newBlockingStub(c.channel)).createUser(CreateUserRequest.newBuilder().setUser(u).setUserId(id).setRequestId(rid).build()) },
    update = { c, u, mask -> c.deadlined(UserServiceGrpc.newBlockingStub(c.channel)).updateUser(UpdateUserRequest.newBuilder().setUser(u).setUpdateMask(mask).build()) },
    delete = { c, id, etag -> c.deadlined(UserServiceGrpc.newBlockingStub(c.channel)).deleteUser(DeleteUserRequest.newBuilder().setId(id).setEtag(etag).build()); Unit },
    import = { c, chunks ->
        clientStream<ImportUsersResponse>({ c.deadlined(UserServiceGrpc.newStub(c.channel)).importUsers(it) },
            chunks.map { ImportUsersRequest.newBuilder().addAllUsers(it).build() })
            .let { importResult(it.createdCount, it.updatedCount, it.failedCount, it.errorsList) }
    },
    export = { c -> c.deadlined(UserServiceGrpc.newBlockingStub(c.channel)).exportUsers(ExportUsersRequest.getDefaultInstance()).asSequence().map { it.usersList }.iterator() },
    fromEvent = { e -> if (e.hasUser()) e.user else null }
)

internal val POSTS = Ops<Post, ListPostsRequest>(
    "posts", Post::getId,
    get = { c, id -> c.deadlined(PostServiceGrpc.newBlockingStub(c.channel)).getPost(GetPostRequest.newBuilder().setId(id).build()) },
    batchGet = { c, ids -> c.deadlined(PostServiceGrpc.newBlockingStub(c.channel)).batchGetPosts(BatchGetPostsRequest.newBuilder().addAllIds(ids).build()).postsList },
    list = { c, r -> c.deadlined(PostServiceGrpc.newBlockingStub(c.channel)).listPosts(r).let { Page(it.postsList, it.nextPageToken) } },
    create = { c, p, id, rid -> c.deadlined(PostServiceGrpc.newBlockingStub(c.channel)).createPost(CreatePostRequest.newBuilder().setPost(p).setPostId(id).setRequestId(rid).build()) },
    update = { c, p, mask -> c.deadlined(PostServiceGrpc.newBlockingStub(c.channel)).updatePost(UpdatePostRequest.newBuilder().setPost(p).setUpdateMask(mask).build()) },
    delete = { c, id, etag -> c.deadlined(PostServiceGrpc.newBlockingStub(c.channel)).deletePost(DeletePostRequest.newBuilder().setId(id).setEtag(etag).build()); Unit },
    import = { c, chunks ->
        clientStream<ImportPostsResponse>({ c.deadlined(PostServiceGrpc.newStub(c.channel)).importPosts(it) },
            chunks.map { ImportPostsRequest.newBuilder().addAllPosts(it).build() })
            .let { importResult(it.createdCount, it.updatedCount, it.failedCount, it.errorsList) }
    },
    export = { c -> c.deadlined(PostServiceGrpc.newBlockingStub(c.channel)).exportPosts(ExportPostsRequest.getDefaultInstance()).asSequence().map { it.postsList }.iterator() },
    fromEvent = { e -> if (e.hasPost()) e.post else null }
)

internal val COMMENTS = Ops<Comment, ListCommentsRequest>(
    "comments", Comment::getId,
    get = { c, id -> c.deadlined(CommentServiceGrpc.newBlockingStub(c.channel)).getComment(GetCommentRequest.newBuilder().setId(id).build()) },
    batchGet = { c, ids -> c.deadlined(CommentServiceGrpc.newBlockingStub(c.channel)).batchGetComments(BatchGetCommentsRequest.newBuilder().addAllIds(ids).build()).commentsList },
    list = { c, r -> c.deadlined(CommentServiceGrpc.newBlockingStub(c.channel)).listComments(r).let { Page(it.commentsList, it.nextPageToken) } },
    create = { c, m, id, rid -> c.deadlined(CommentServiceGrpc.newBlockingStub(c.channel)).createComment(CreateCommentRequest.newBuilder().setComment(m).setCommentId(id).setRequestId(rid).build()) },
    update = { c, m, mask -> c.deadlined(CommentServiceGrpc.newBlockingStub(c.channel)).updateComment(UpdateCommentRequest.newBuilder().setComment(m).setUpdateMask(mask).build()) },
    delete = { c, id, etag -> c.deadlined(CommentServiceGrpc.newBlockingStub(c.channel)).deleteComment(DeleteCommentRequest.newBuilder().setId(id).setEtag(etag).build()); Unit },
    import = { c, chunks ->
        clientStream<ImportCommentsResponse>({ c.deadlined(CommentServiceGrpc.newStub(c.channel)).importComments(it) },
            chunks.map { ImportCommentsRequest.newBuilder().addAllComments(it).build() })
            .let { importResult(it.createdCount, it.updatedCount, it.failedCount, it.errorsList) }
    },
    export = { c -> c.deadlined(CommentServiceGrpc.newBlockingStub(c.channel)).exportComments(ExportCommentsRequest.getDefaultInstance()).asSequence().map { it.commentsList }.iterator() },
    fromEvent = { e -> if (e.hasComment()) e.comment else null }
)

private fun importResult(created: Long, updated: Long, failed: Long, errors: List<ImportError>) =
    ImportResult(created, updated, failed, errors.map { "#${it.index} ${it.field}: ${it.message} (code ${it.code})" })

/** A client-streaming call made blocking: send `requests` in order, then wait for the one answer. grpc-java's
 * blocking stubs have no client streams, so this is the async stub's observer pair, with flow control: a
 * message is sent only while the call is ready, so a long sequence is never buffered whole in memory. */
private fun <R> clientStream(open: (StreamObserver<R>) -> StreamObserver<*>, requests: Sequence<Any>): R {
    val answer = CompletableFuture<R>()
    val lock = ReentrantLock()
    val changed = lock.newCondition()
    fun wake() = lock.withLock { changed.signalAll() }
    val observer = object : ClientResponseObserver<Any, R> {
        override fun beforeStart(requestStream: ClientCallStreamObserver<Any>) = requestStream.setOnReadyHandler(::wake)
        override fun onNext(value: R) { answer.complete(value) }
        override fun onError(t: Throwable) { answer.completeExceptionally(t); wake() }
        override fun onCompleted() {
            if (!answer.isDone) answer.completeExceptionally(IllegalStateException("no answer"))
            wake()
        }
    }
    @Suppress("UNCHECKED_CAST")
    val sending = open(observer) as ClientCallStreamObserver<Any>
    try {
        for (request in requests) {
            lock.withLock { while (!sending.isReady && !answer.isDone) changed.await(1, TimeUnit.SECONDS) }
            if (answer.isDone) break // refused early: its status is the answer
            sending.onNext(request)
        }
        sending.onCompleted()
    } catch (thrown: RuntimeException) {
        sending.onError(thrown)
        throw thrown
    }
    try {
        return answer.get()
    } catch (thrown: java.util.concurrent.ExecutionException) {
        throw thrown.cause ?: thrown
    }
}
