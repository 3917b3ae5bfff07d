package dev.wellspring.client

import com.google.rpc.BadRequest
import com.google.rpc.ErrorInfo
import com.google.rpc.ResourceInfo
import com.google.rpc.RetryInfo
import io.grpc.Status
import io.grpc.protobuf.StatusProto

/** One field the server refused, as `google.rpc.BadRequest` carries it. */
data class FieldViolation(val field: String, val description: String)

/**
 * A failed call, decoded from its status and the `grpc-status-details-bin` details the service attaches:
 * the ErrorInfo reason (stable, for code to branch on), field violations, resource names and RetryInfo.
 */
class WellspringException(
    val code: Status.Code,
    message: String,
    val reason: String = "",
    val metadata: Map<String, String> = emptyMap(),
    val fieldViolations: List<FieldViolation> = emptyList(),
    val resourceNames: List<String> = emptyList(),
    /** How long the server asked the caller to wait before trying again (RetryInfo), if it did. */
    val retryDelayMs: Long? = null,
    cause: Throwable? = null
) : RuntimeException("$code: $message", cause) {
    val isNotFound get() = code == Status.Code.NOT_FOUND
    /** A stale etag (ABORTED): someone else changed the resource first. */
    val isConflict get() = code == Status.Code.ABORTED
    /** Refused by the rate limit before it ran: safe to send again, even a write. */
    val isRateLimited get() = code == Status.Code.RESOURCE_EXHAUSTED && reason == "RATE_LIMITED"

    companion object {
        /** The typed error for whatever a grpc-java call threw (a non-gRPC error is wrapped as UNKNOWN). */
        fun from(thrown: Throwable): WellspringException {
            if (thrown is WellspringException) return thrown
            val status = Status.fromThrowable(thrown)
            val details = StatusProto.fromThrowable(thrown)?.detailsList.orEmpty()
            var reason = ""
            var metadata = emptyMap<String, String>()
            val violations = mutableListOf<FieldViolation>()
            val resources = mutableListOf<String>()
            var retryMs: Long? = null
            for (any in details) {
                when {
                    any.`is`(ErrorInfo::class.java) -> any.unpack(ErrorInfo::class.java).let {
                        reason = it.reason
                        metadata = it.metadataMap
                    }
                    any.`is`(BadRequest::class.java) -> any.unpack(BadRequest::class.java).fieldViolationsList
                        .forEach { violations += FieldViolation(it.field, it.description) }
                    any.`is`(ResourceInfo::class.java) -> resources += any.unpack(ResourceInfo::class.java).resourceName
                    any.`is`(RetryInfo::class.java) -> any.unpack(RetryInfo::class.java).retryDelay.let {
                        retryMs = it.seconds * 1000 + it.nanos / 1_000_000
                    }
                }
            }
            return WellspringException(
                status.code, status.description ?: "", reason, metadata, violations, resources, retryMs, thrown
            )
        }
    }
}
