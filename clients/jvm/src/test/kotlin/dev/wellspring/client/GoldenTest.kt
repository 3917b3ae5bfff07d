package dev.wellspring.client

import com.google.gson.JsonParser
import com.google.protobuf.Message
import com.google.protobuf.util.JsonFormat
import com.google.rpc.BadRequest
import com.google.rpc.ErrorInfo
import com.google.rpc.RetryInfo
import dev.wellspring.v1.Comment
import dev.wellspring.v1.ImportUsersResponse
import dev.wellspring.v1.ListUsersResponse
import dev.wellspring.v1.Post
import dev.wellspring.v1.User
import dev.wellspring.v1.WatchResponse
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/** The golden messages (contract/golden/, README "API policy"), serialized by the stubs of a shipped release,
 * decoded by today's Java stubs to the meaning recorded beside them: what an app in the field relies on. */
class GoldenTest {
    private val types: Map<String, Message> = listOf(
        User.getDefaultInstance(), Post.getDefaultInstance(), Comment.getDefaultInstance(),
        ListUsersResponse.getDefaultInstance(), ImportUsersResponse.getDefaultInstance(),
        WatchResponse.getDefaultInstance(), com.google.rpc.Status.getDefaultInstance()
    ).associateBy { it.descriptorForType.fullName }
    private val printer = JsonFormat.printer().usingTypeRegistry(
        JsonFormat.TypeRegistry.newBuilder()
            .add(ErrorInfo.getDescriptor()).add(BadRequest.getDescriptor()).add(RetryInfo.getDescriptor()).build()
    )

    @Test
    fun `golden bytes mean today what they meant`() {
        val golden = File(env("WELLSPRING_GOLDEN_DIR"))
        val cases = golden.listFiles { f -> f.name.endsWith(".bin") }.orEmpty().sortedBy { it.name }
        assertTrue(cases.size >= 7, "no golden messages in $golden")
        for (bytes in cases) {
            val record = JsonParser.parseString(File(golden, bytes.name.removeSuffix(".bin") + ".json").readText()).asJsonObject
            val type = record["type"].asString
            val message = (types[type] ?: error("no Java type for $type")).parserForType.parseFrom(bytes.readBytes())
            assertTrue(message.unknownFields.asMap().isEmpty(), "${bytes.name}: fields unknown to today's stubs")
            assertEquals(record["meaning"], JsonParser.parseString(printer.print(message)), bytes.name)
        }
    }
}
